"""Write a benchmark's static STAC catalog and publish it atomically.

Everything of one benchmark is built in a staging folder: the cube store, quicklooks, a checksum
manifest of the store, the items and the collection. Only when all of it is complete is the folder
swapped into place and the root catalog rewritten, so a crash at any point leaves the previously
published benchmark valid.

Published layout::

    <output>/catalog.json                                  root catalog, one child per benchmark
    <output>/<benchmark>/collection.json
    <output>/<benchmark>/cube.zarr                         the cube store (collection + item asset)
    <output>/<benchmark>/cube-manifest.json                size + checksum of every store file
    <output>/<benchmark>/run-report.json
    <output>/<benchmark>/thumbnail.png
    <output>/<benchmark>/items/<item-id>/<item-id>.json    one item per ingested scene (+ quicklook.png)
    <output>/<benchmark>/chips.zarr                        ML chips + labels + splits (recipes with labels)
    <output>/<benchmark>/chips-manifest.json               size + checksum of every chip store file
    <output>/<benchmark>/items/<aoi>-<split>-labels/...    one label item per AOI and split
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Final

from ml4earth_stac.chipping import ChipSummary
from ml4earth_stac.config import Recipe
from ml4earth_stac.stac import build, labels
from ml4earth_stac.stac.files import multihash_sha256, tree_size, write_store_manifest
from ml4earth_stac.stac.quicklook import write_quicklook

CUBE_NAME: Final = "cube.zarr"
MANIFEST_NAME: Final = "cube-manifest.json"
CHIPS_NAME: Final = "chips.zarr"
CHIPS_MANIFEST_NAME: Final = "chips-manifest.json"
STAGING_NAME: Final = ".staging"
JSON_TYPE: Final = "application/json"


def collection_tree_links() -> list[dict[str, Any]]:
    """The root and parent links of a collection at ``<output>/<collection>/collection.json``."""
    return [
        {"rel": "root", "href": "../catalog.json", "type": JSON_TYPE},
        {"rel": "parent", "href": "../catalog.json", "type": JSON_TYPE},
    ]


def item_tree_links() -> list[dict[str, Any]]:
    """The root, parent and collection links of an item at ``<collection>/items/<id>/<id>.json``."""
    return [
        {"rel": "root", "href": "../../../catalog.json", "type": JSON_TYPE},
        {"rel": "parent", "href": "../../collection.json", "type": JSON_TYPE},
        {"rel": "collection", "href": "../../collection.json", "type": JSON_TYPE},
    ]


def item_link(item_id: str) -> dict[str, Any]:
    """A collection's link to its item ``items/<id>/<id>.json``."""
    return {"rel": "item", "href": f"./items/{item_id}/{item_id}.json", "type": "application/geo+json"}


def staging_dir(output_dir: Path, benchmark: str) -> Path:
    """A fresh staging folder for one benchmark (a stale one from a crashed run is removed)."""
    path = output_dir / STAGING_NAME / benchmark
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def write_benchmark_stac(
    staging: Path,
    recipe: Recipe,
    scenes: list[build.PublishedScene],
    upstream_api: str,
    chips: list[ChipSummary] | None = None,
) -> int:
    """Write quicklooks, the store manifests, items and the collection into the staging folder.

    With ``chips`` (recipes with labels), label items per AOI and split, the chip store's assets and the
    collection's label summaries are written too.

    Returns:
        Bytes written for STAC and its companion files (the store itself not included).
    """
    store = staging / CUBE_NAME
    written = 0
    item_links = []
    for scene in scenes:
        item, size = _write_item(staging, scene, recipe)
        written += size
        item_links.append(item_link(item["id"]))
    store_size = write_store_manifest(store, staging / MANIFEST_NAME) if store.exists() else 0
    assets = _collection_assets(staging, recipe, scenes, store_size)
    if chips:
        label_links, label_bytes = _write_label_items(staging, recipe, scenes, chips)
        item_links += label_links
        written += label_bytes
        assets |= _chips_assets(staging, chips)
    collection = build.benchmark_collection(recipe, scenes, assets, upstream_api)
    if chips:
        collection["stac_extensions"].append(labels.LABEL_EXT)
        collection["summaries"] |= labels.collection_label_fields(recipe, chips)
    collection["links"] = [
        *collection_tree_links(),
        {"rel": "license", "href": f"https://spdx.org/licenses/{recipe.license}.html", "type": "text/html"},
        *item_links,
    ]
    _write_json(staging / "collection.json", collection)
    manifests = tree_size(staging / MANIFEST_NAME) + tree_size(staging / CHIPS_MANIFEST_NAME)
    return written + tree_size(staging / "collection.json") + manifests


def _write_label_items(
    staging: Path, recipe: Recipe, scenes: list[build.PublishedScene], chips: list[ChipSummary]
) -> tuple[list[dict[str, Any]], int]:
    """Write one label item per AOI and split; return their collection links and bytes written."""
    sensors = {summary.sensor for summary in chips}
    by_upstream = {
        s.item_id: (s.stac_id, s.upstream["properties"]["datetime"]) for s in scenes if s.sensor in sensors
    }
    links, written = [], 0
    for aoi, split in sorted({key for summary in chips for key in summary.footprints}):
        item = labels.label_item(recipe, chips, aoi, split, by_upstream)
        folder = staging / "items" / item["id"]
        folder.mkdir(parents=True, exist_ok=True)
        item["links"] += item_tree_links()
        item["collection"] = recipe.id
        _write_json(folder / f"{item['id']}.json", item)
        written += tree_size(folder)
        links.append(item_link(item["id"]))
    return links, written


def _chips_assets(staging: Path, chips: list[ChipSummary]) -> dict[str, dict[str, Any]]:
    store = staging / CHIPS_NAME
    size = write_store_manifest(store, staging / CHIPS_MANIFEST_NAME)
    manifest = staging / CHIPS_MANIFEST_NAME
    groups = "; ".join(
        f"{c.sensor}: " + ", ".join(f"{split} {n}" for split, n in c.counts.items()) for c in chips
    )
    asset = labels.chips_asset(f"./{CHIPS_NAME}", None, "ML chips, labels and splits (Zarr v3)", size)
    asset["description"] = (
        f"One group per sensor, samples ordered by split ({groups}); normalization from the train split in "
        "the group attributes. Stream a split with ml4earth_stac.store.ChipDataset."
    )
    return {
        "chips": asset,
        "chips-manifest": build.file_asset(
            f"./{CHIPS_MANIFEST_NAME}",
            JSON_TYPE,
            ["metadata"],
            "size and checksum of every file of the chip store",
            manifest.stat().st_size,
            multihash_sha256(manifest),
        ),
    }


def _write_item(staging: Path, scene: build.PublishedScene, recipe: Recipe) -> tuple[dict, int]:
    folder = staging / "items" / scene.stac_id
    folder.mkdir(parents=True, exist_ok=True)
    title = f"{scene.sensor} cube of {scene.aoi} (time index {scene.time_index})"
    bands = build.band_objects(scene.adapter, scene.bands)
    assets = {"cube": build.cube_asset(f"../../{CUBE_NAME}", scene.group, bands, title, recipe.grid.shard_px)}
    quicklook = folder / "quicklook.png"
    if scene.preview is not None:
        write_quicklook(scene.preview, quicklook)
        assets["quicklook"] = build.file_asset(
            "./quicklook.png",
            "image/png",
            ["overview", "visual"],
            "true-colour quicklook, masked pixels transparent",
            quicklook.stat().st_size,
            multihash_sha256(quicklook),
        )
    item = build.scene_item(scene, assets, recipe.id)
    item["links"] += item_tree_links()
    path = folder / f"{scene.stac_id}.json"
    _write_json(path, item)
    return item, tree_size(folder)


def _collection_assets(
    staging: Path, recipe: Recipe, scenes: list[build.PublishedScene], store_size: int
) -> dict[str, dict[str, Any]]:
    assets: dict[str, dict[str, Any]] = {}
    if scenes:
        groups = sorted({scene.group for scene in scenes})
        cube = build.cube_asset(
            f"./{CUBE_NAME}", None, [], "analysis-ready cube (Zarr v3)", recipe.grid.shard_px
        )
        cube["description"] = f"One group per AOI and sensor, open with group=...: {', '.join(groups)}."
        cube["file:size"] = store_size
        assets["cube"] = cube
        manifest = staging / MANIFEST_NAME
        assets["cube-manifest"] = build.file_asset(
            f"./{MANIFEST_NAME}",
            JSON_TYPE,
            ["metadata"],
            "size and checksum of every file of the cube",
            manifest.stat().st_size,
            multihash_sha256(manifest),
        )
        thumbnail = _thumbnail(staging, scenes)
        if thumbnail is not None:
            assets["thumbnail"] = build.file_asset(
                "./thumbnail.png",
                "image/png",
                ["thumbnail"],
                "clearest scene, true colour",
                thumbnail.stat().st_size,
                multihash_sha256(thumbnail),
            )
    return assets


def _thumbnail(staging: Path, scenes: list[build.PublishedScene]) -> Path | None:
    clearest = max(scenes, key=lambda s: s.valid_fraction * (1 - s.cloud_fraction))
    source = staging / "items" / clearest.stac_id / "quicklook.png"
    if not source.exists():
        return None
    target = staging / "thumbnail.png"
    shutil.copyfile(source, target)
    return target


def swap_into_place(staging: Path, output_dir: Path, benchmark: str) -> Path:
    """Replace the published benchmark folder with the staged one, then rewrite the root catalog."""
    target = output_dir / benchmark
    retired = output_dir / STAGING_NAME / f"{benchmark}.retired"
    if retired.exists():
        shutil.rmtree(retired)
    if target.exists():
        os.replace(target, retired)
    os.replace(staging, target)
    if retired.exists():
        shutil.rmtree(retired)
    with contextlib.suppress(OSError):
        (output_dir / STAGING_NAME).rmdir()  # only when empty
    write_root_catalog(output_dir)
    return target


def write_root_catalog(output_dir: Path) -> Path:
    """Rewrite ``catalog.json`` from the benchmark folders that hold a collection."""
    titles = {}
    for collection in sorted(output_dir.glob("*/collection.json")):
        titles[collection.parent.name] = json.loads(collection.read_text()).get("title", "")
    path = output_dir / "catalog.json"
    _write_json(path, build.root_catalog(list(titles), titles))
    return path


def recover_interrupted_swap(output_dir: Path, benchmark: str) -> None:
    """If a crash hit between the two renames of a swap, put the retired benchmark back."""
    retired = output_dir / STAGING_NAME / f"{benchmark}.retired"
    if retired.exists() and not (output_dir / benchmark).exists():
        os.replace(retired, output_dir / benchmark)


def _write_json(path: Path, document: dict[str, Any]) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(document, indent=2))
    os.replace(temporary, path)
