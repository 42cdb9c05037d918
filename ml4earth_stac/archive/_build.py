"""Build the sample archive on disk: COGs, PC-shaped items, collection, truth and manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Final

import numpy as np

from ml4earth_stac.archive import _bands as B
from ml4earth_stac.archive import _scene as S
from ml4earth_stac.archive._cog import write_cog
from ml4earth_stac.archive._grid import SceneGrid, aoi_corners_uv, polygon_wgs84, scene_grid
from ml4earth_stac.archive._items import SceneStats, asset_href, collection_dict, item_dict
from ml4earth_stac.archive._manifest import (
    MANIFEST_NAME,
    ArchiveManifest,
    SceneRecord,
    load_manifest,
    write_manifest,
)
from ml4earth_stac.archive._noise import smooth_2d
from ml4earth_stac.archive._spec import (
    AOI_BOX,
    AOI_NAME,
    COLLECTION_ID,
    EPSG,
    GLACIER_NAME,
    ArchiveSpec,
    ScenePlan,
    check_spec,
    plan_scenes,
)
from ml4earth_stac.archive._truth import front_feature, fronts_collection
from ml4earth_stac.errors import ArchiveError

MANAGED: Final = ("items", "cogs", "truth", ".served", "collection.json", MANIFEST_NAME)
# SCL value -> item property (percent of valid pixels), as Sen2Cor reports them.
SCL_PERCENTAGES: Final = {
    "s2:water_percentage": (6,),
    "s2:snow_ice_percentage": (11,),
    "s2:vegetation_percentage": (4,),
    "s2:thin_cirrus_percentage": (10,),
    "s2:cloud_shadow_percentage": (3,),
    "s2:unclassified_percentage": (7,),
    "s2:dark_features_percentage": (2,),
    "s2:not_vegetated_percentage": (5,),
    "s2:high_proba_clouds_percentage": (9,),
    "s2:medium_proba_clouds_percentage": (8,),
    "s2:saturated_defective_pixel_percentage": (1,),
}


def _scl_stats(scl20: np.ndarray) -> SceneStats:
    valid = scl20 > 0
    n_valid = max(int(valid.sum()), 1)
    counts = np.bincount(scl20.ravel(), minlength=12)
    pct = {k: 100.0 * sum(int(counts[c]) for c in cs) / n_valid for k, cs in SCL_PERCENTAGES.items()}
    pct["s2:nodata_pixel_percentage"] = 100.0 * float((~valid).mean())
    pct["s2:degraded_msi_data_percentage"] = 0.0
    cloud = 100.0 * sum(int(counts[c]) for c in S.CLOUD_SCL) / n_valid
    return SceneStats(cloud_cover=cloud, aoi_cloud_fraction=S.aoi_cloud_fraction(scl20), percentages=pct)


def _write_bands(folder: Path, grid: SceneGrid, layers: S.SceneLayers, plan: ScenePlan, seed: int) -> None:
    """Spectral bands at native resolution plus the TCI ``visual`` asset."""
    tci: dict[str, np.ndarray] = {}
    for i, band in enumerate(B.BANDS):
        lay = layers.at(band.gsd // 10)
        rho = S.band_reflectance(lay, i, np.random.default_rng([seed, 3, plan.index, i]))
        dn = B.encode_reflectance(rho, lay.valid, plan.processing_baseline)
        write_cog(folder / f"{band.name}.tif", dn, grid.transform(band.gsd), EPSG, 0, "average")
        if band.name in ("B04", "B03", "B02"):
            tci[band.name] = B.encode_tci(rho, lay.valid)
    visual = np.stack([tci["B04"], tci["B03"], tci["B02"]])
    write_cog(folder / "visual.tif", visual, grid.transform(10), EPSG, 0, "average")


def _write_atmosphere(
    folder: Path, grid: SceneGrid, layers: S.SceneLayers, plan: ScenePlan, seed: int
) -> None:
    """AOT (x 0.001) and WVP (x 0.001 cm) at 10 m, uint16, nodata 0."""
    rng = np.random.default_rng([seed, 4, plan.index])
    n = layers.valid.shape[0]
    for key, mean, amp in (("AOT", 0.06 + 0.04 * rng.random(), 0.01), ("WVP", 0.4 + 0.8 * rng.random(), 0.1)):
        value = mean + amp * smooth_2d(rng, n, [2, 5], [1.0, 0.5])
        dn = np.clip(np.rint(value * 1000.0), 1, 65534).astype(np.uint16)
        dn[~layers.valid] = 0
        write_cog(folder / f"{key}.tif", dn, grid.transform(10), EPSG, 0, "average")


def _write_scene(root: Path, grid: SceneGrid, geo: S.Geography, plan: ScenePlan, seed: int):
    """Synthesize and write one acquisition.

    Returns:
        (item dict, front feature, scene record).
    """
    layers, fu = S.scene_layers(geo, plan, seed)
    folder = root / Path(asset_href(plan.item_id, "x")).parent
    _write_bands(folder, grid, layers, plan, seed)
    _write_atmosphere(folder, grid, layers, plan, seed)
    scl20 = S.scl(layers.at(2))
    write_cog(folder / "SCL.tif", scl20, grid.transform(20), EPSG, 0, "nearest")
    write_cog(
        root / "truth" / "zones" / f"{plan.item_id}.tif",
        S.zones(layers),
        grid.transform(10),
        EPSG,
        0,
        "nearest",
    )
    stats = _scl_stats(scl20)
    item = item_dict(plan, grid, stats)
    front = front_feature(grid, geo, plan, fu)
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


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def _existing(root: Path, spec: ArchiveSpec) -> ArchiveManifest | None:
    """The manifest of a complete archive built with ``spec``, else None."""
    if not (root / MANIFEST_NAME).is_file():
        return None
    try:
        manifest = load_manifest(root)
    except ArchiveError:
        return None
    if manifest.spec != spec or not all(manifest.item_path(i).is_file() for i in manifest.item_ids):
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


def build_sample_archive(root: Path, spec: ArchiveSpec = ArchiveSpec()) -> ArchiveManifest:  # noqa: B008
    """Build (or reuse) the seeded Kronebreen Sentinel-2 L2A sample archive under ``root``.

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
    grid = scene_grid(spec.scene_size_px)
    geo = S.make_geography(spec.scene_size_px, spec.seed)
    items, fronts, records = [], [], []
    for plan in plan_scenes(spec):
        item, front, record = _write_scene(root, grid, geo, plan, spec.seed)
        _write_json(root / "items" / f"{plan.item_id}.json", item)
        items.append(item)
        fronts.append(front)
        records.append(record)
    _write_json(root / "collection.json", collection_dict(items))
    _write_json(root / "truth" / "fronts.geojson", fronts_collection(fronts))
    u0, v0, u1, v1 = AOI_BOX
    (ax0, ay1), (ax1, ay0) = grid.uv_to_xy(u0, v0), grid.uv_to_xy(u1, v1)
    manifest = ArchiveManifest(
        root=root,
        collection_id=COLLECTION_ID,
        item_ids=tuple(r.item_id for r in records),
        epsg=EPSG,
        aoi_name=AOI_NAME,
        aoi_geometry_wgs84=polygon_wgs84(grid, aoi_corners_uv()),
        spec=spec,
        glacier=GLACIER_NAME,
        aoi_bbox_utm=(ax0, ay0, ax1, ay1),
        scene_bbox_utm=tuple(grid.bbox),
        scenes=tuple(records),
    )
    write_manifest(manifest)
    return manifest
