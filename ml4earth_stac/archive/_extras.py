"""Writing the scenes of the extra sensors (Landsat C2 L2, Sentinel-1 RTC, ASTER L1T) of one truth date.

Each extra collection lives in ``<root>/<collection_id>/`` (``collection.json`` plus ``items/<id>.json``);
its COGs sit beside the Sentinel-2 ones in ``<root>/cogs/<item_id>/``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ml4earth_stac.archive import _aster as A
from ml4earth_stac.archive import _landsat as L
from ml4earth_stac.archive import _scene as S
from ml4earth_stac.archive import _sentinel1 as R
from ml4earth_stac.archive._aster_items import aster_collection_dict, write_aster_scene
from ml4earth_stac.archive._cog import write_cog
from ml4earth_stac.archive._grid import SceneGrid
from ml4earth_stac.archive._landsat_items import landsat_collection_dict, landsat_href, landsat_item_dict
from ml4earth_stac.archive._manifest import SceneRecord, SensorItemRecord
from ml4earth_stac.archive._spec import ASTER_COLLECTION_ID, LANDSAT_COLLECTION_ID, S1_COLLECTION_ID


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def extra_item_path(root: Path, collection_id: str, item_id: str) -> Path:
    """Where the item of an extra collection is stored."""
    return root / collection_id / "items" / f"{item_id}.json"


def _record(sensor: str, item: dict[str, Any], truth: SceneRecord, slc_off: bool = False) -> SensorItemRecord:
    return SensorItemRecord(
        sensor=sensor,
        collection_id=item["collection"],
        item_id=item["id"],
        datetime=item["properties"]["datetime"],
        platform=item["properties"]["platform"],
        truth_item_id=truth.item_id,
        truth_datetime=truth.datetime,
        front_mean_easting_m=truth.front_mean_easting_m,
        slc_off=slc_off,
    )


def write_landsat_scene(
    root: Path, grid: SceneGrid, layers: S.SceneLayers, plan: L.LandsatPlan, seed: int, truth: SceneRecord
) -> tuple[dict[str, Any], SensorItemRecord]:
    """Synthesize and write one Landsat scene showing the truth of ``truth``.

    Args:
        root: archive folder.
        grid: the Sentinel-2 scene grid.
        layers: the date's 10 m layers with the whole scene valid.
        plan: the Landsat plan.
        seed: archive seed.
        truth: the Sentinel-2 record of the same date.

    Returns:
        (item dict, manifest record).
    """
    lgrid = L.landsat_grid(grid)
    rasters = L.landsat_rasters(L.sample_layers(layers, lgrid), plan, seed)
    suffixes = {b.key: b.suffix for b in plan.bands} | {plan.thermal[0]: plan.thermal[5]}
    suffixes |= {"qa_pixel": "QA_PIXEL", "qa_radsat": "QA_RADSAT"}
    for key, data in rasters.items():
        nodata = {"qa_pixel": L.QA_FILL, "qa_radsat": None}.get(key, L.SR_FILL)
        resampling = "nearest" if key.startswith("qa_") else "average"
        path = root / landsat_href(plan, suffixes[key])
        write_cog(path, data, lgrid.transform, lgrid.epsg, nodata, resampling)
    item = landsat_item_dict(plan, lgrid, L.cloud_cover(rasters["qa_pixel"], plan.oli))
    write_json(extra_item_path(root, LANDSAT_COLLECTION_ID, plan.item_id), item)
    return item, _record("landsat", item, truth, plan.slc_off)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_s1_scene(
    root: Path, grid: SceneGrid, layers: S.SceneLayers, plan: R.S1Plan, seed: int, truth: SceneRecord
) -> tuple[dict[str, Any], SensorItemRecord]:
    """Synthesize and write one Sentinel-1 RTC scene showing the truth of ``truth``.

    Args:
        root: archive folder.
        grid: the scene grid (the RTC grid is its 10 m grid).
        layers: the date's 10 m layers with the whole scene valid.
        plan: the Sentinel-1 plan.
        seed: archive seed.
        truth: the Sentinel-2 record of the same date.

    Returns:
        (item dict, manifest record).
    """
    files = {}
    for key, data in R.gamma0(layers, plan, seed).items():
        path = root / R.s1_href(plan, key)
        write_cog(path, data, grid.transform(10), grid.epsg, R.NODATA, "average")
        files[key] = (path.stat().st_size, _md5(path))
    item = R.s1_item_dict(plan, grid, files)
    write_json(extra_item_path(root, S1_COLLECTION_ID, plan.item_id), item)
    return item, _record("sentinel-1", item, truth)


def write_aster_item(
    root: Path, grid: SceneGrid, layers: S.SceneLayers, plan: A.AsterPlan, seed: int, truth: SceneRecord
) -> tuple[dict[str, Any], SensorItemRecord]:
    """Synthesize and write one ASTER L1T scene (COGs, xml, item) showing the truth of ``truth``.

    Returns:
        (item dict, manifest record).
    """
    item = write_aster_scene(root, grid, layers, plan, seed)
    write_json(extra_item_path(root, ASTER_COLLECTION_ID, plan.item_id), item)
    return item, _record("aster", item, truth)


def write_extra_collections(root: Path, items: dict[str, list[dict[str, Any]]]) -> None:
    """Write ``<root>/<collection_id>/collection.json`` of every extra collection that has items."""
    builders = {
        LANDSAT_COLLECTION_ID: landsat_collection_dict,
        S1_COLLECTION_ID: R.s1_collection_dict,
        ASTER_COLLECTION_ID: aster_collection_dict,
    }
    for collection_id, its in items.items():
        if its:
            write_json(root / collection_id / "collection.json", builders[collection_id](its))
