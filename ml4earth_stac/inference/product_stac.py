"""Publish the products of a batch inference as their own STAC collection (staged, then swapped in).

* ``<benchmark>-fronts``: one item per glacier and date whose geometry is the front line (WGS84), with its
  length and the model; collection assets: all fronts (GeoParquet, GeoJSON), the position changes (CSV)
  and the time-series plot (PNG);
* ``<benchmark>-canopy``: one item per city with its canopy probability COG (projection fields, so QGIS
  and GDAL's STACIT open it) and PNG map; collection assets: the coverage table (GeoParquet, CSV).

Every item links ``derived_from`` the model's MLM item and the scene items it was made from.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Final

import pyproj
import shapely
import shapely.geometry

from ml4earth_stac.config import Recipe
from ml4earth_stac.inference.batch import ProductRun
from ml4earth_stac.stac import publish
from ml4earth_stac.stac.build import EXT, STAC_VERSION, proj_fields
from ml4earth_stac.stac.files import multihash_sha256

MEDIA: Final = {
    ".parquet": "application/vnd.apache.parquet",
    ".geojson": "application/geo+json",
    ".csv": "text/csv",
    ".png": "image/png",
    ".tif": "image/tiff; application=geotiff; profile=cloud-optimized",
}


def publish_products(run: ProductRun, recipe: Recipe, output_dir: Path, model_item_href: str) -> Path:
    """Write the product items and collection into the run's staging folder and swap it into place.

    Args:
        run: what :func:`~ml4earth_stac.inference.batch.infer_benchmark` made (its folder is the staging).
        recipe: the benchmark.
        output_dir: the publish folder.
        model_item_href: the model's MLM item, relative to the publish folder.
    """
    product_id = f"{recipe.id}-{run.kind}"
    items = _front_items(run, recipe) if run.kind == "fronts" else _canopy_items(run, recipe)
    links = []
    for item in items:
        item["links"] += _links(recipe, model_item_href, item.pop("_scenes"))
        item["collection"] = product_id
        folder = run.folder / "items" / item["id"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{item['id']}.json").write_text(json.dumps(item, indent=2))
        links.append(publish.item_link(item["id"]))
    collection = _collection(run, recipe, product_id, items, links)
    (run.folder / "collection.json").write_text(json.dumps(collection, indent=2))
    report = {
        "model": run.model_id,
        "items": len(items),
        "no_front": run.no_front,  # glacier-dates without a front, with the reason
        "retreat_m_per_yr": {g: c.retreat_rate_m_per_yr for g, c in run.changes.items()},
        "cities": [{k: v for k, v in c.items() if k != "geometry"} for c in run.cities],
    }
    (run.folder / "inference-report.json").write_text(json.dumps(report, indent=2, default=str))
    return publish.swap_into_place(run.folder, output_dir, product_id)


def _front_items(run: ProductRun, recipe: Recipe) -> list[dict[str, Any]]:
    items = []
    for front in run.fronts:
        to_wgs84 = pyproj.Transformer.from_crs(front.epsg, 4326, always_xy=True).transform
        line = shapely.transform(front.geometry, to_wgs84, interleaved=False)
        items.append(
            {
                "type": "Feature",
                "stac_version": STAC_VERSION,
                "stac_extensions": [EXT["file"]],
                "id": f"{front.glacier}-{front.datetime[:19].replace('-', '').replace(':', '')}-front",
                "geometry": shapely.geometry.mapping(line),
                "bbox": list(line.bounds),
                "properties": {
                    "datetime": front.datetime,
                    "title": f"calving front of {front.glacier}, {front.datetime[:10]}",
                    "ml4earth:glacier": front.glacier,
                    "ml4earth:length_m": round(front.length_m, 1),
                    "ml4earth:sensor": front.sensor,
                    "ml4earth:model": front.model,
                },
                "assets": {
                    "fronts": _file_asset(run.folder / "fronts.geojson", "../../fronts.geojson", "all fronts")
                },
                "links": [],
                "_scenes": [(front.glacier, front.source_item)],
            }
        )
    return items


def _canopy_items(run: ProductRun, recipe: Recipe) -> list[dict[str, Any]]:
    from ml4earth_stac.grid import aoi_grid

    items = []
    for city in run.cities:
        aoi = next(a for a in recipe.aois if a.name == city["city"])
        grid = aoi_grid(aoi.geometry, recipe.grid.crs, recipe.grid.resolution)
        cog = _file_asset(
            run.folder / city["cog"], f"../../{city['cog']}", "canopy probability (percent), COG"
        )
        cog |= proj_fields(grid) | {"roles": ["data"]}
        footprint = shapely.geometry.shape(grid.footprint_wgs84())
        items.append(
            {
                "type": "Feature",
                "stac_version": STAC_VERSION,
                "stac_extensions": [EXT["proj"], EXT["file"]],
                "id": f"{city['city']}-canopy",
                "geometry": shapely.geometry.mapping(footprint),
                "bbox": list(footprint.bounds),
                "properties": {
                    "datetime": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "title": f"tree canopy of {city['city']}: {city['canopy_pct']} %",
                    "ml4earth:canopy_pct": city["canopy_pct"],
                    "ml4earth:mapped_km2": city["mapped_km2"],
                    "ml4earth:dates": city["dates"],
                    "ml4earth:model": city["model"],
                },
                "assets": {
                    "canopy": cog,
                    "map": _file_asset(
                        run.folder / city["png"], f"../../{city['png']}", "canopy map", ["overview"]
                    ),
                },
                "links": [],
                "_scenes": [(city["city"], item) for item in run.scenes.get(city["city"], [])],
            }
        )
    return items


def _links(recipe: Recipe, model_item_href: str, scenes: list[tuple[str, str]]) -> list[dict[str, Any]]:
    links = [
        *publish.item_tree_links(),
        {
            "rel": "derived_from",
            "href": f"../../../{model_item_href}",
            "type": "application/geo+json",
            "title": "model",
        },
    ]
    links += [
        {
            "rel": "derived_from",
            "href": f"../../../{recipe.id}/items/{aoi}-{item}/{aoi}-{item}.json",
            "type": "application/geo+json",
            "title": f"scene {item}",
        }
        for aoi, item in scenes
    ]
    return links


def _collection(
    run: ProductRun, recipe: Recipe, product_id: str, items: list[dict], links: list[dict]
) -> dict:
    boxes = [shapely.box(*item["bbox"]) for item in items] or [shapely.box(-180, -90, 180, 90)]
    times = sorted(str(i["properties"]["datetime"]) for i in items)
    what = "calving fronts" if run.kind == "fronts" else "tree canopy maps"
    assets = {
        key: _file_asset(path, f"./{path.relative_to(run.folder)}", key) for key, path in run.files.items()
    }
    return {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [EXT["file"]],
        "id": product_id,
        "title": f"{recipe.title}: {what} ({run.model_id})",
        "description": (
            f"{what.capitalize()} inferred by the baseline {run.model_id} over every AOI and date of the "
            f"benchmark {recipe.id}. {len(run.no_front)} glacier-dates without a front (reasons in "
            "the run report)."
            if run.kind == "fronts"
            else f"{what.capitalize()} inferred by {run.model_id}."
        ),
        "license": recipe.license,
        "extent": {
            "spatial": {"bbox": [list(shapely.union_all(boxes).bounds)]},
            "temporal": {"interval": [[times[0] if times else None, times[-1] if times else None]]},
        },
        "assets": assets,
        "summaries": {"ml4earth:model": [run.model_id]},
        "links": [
            *publish.collection_tree_links(),
            {
                "rel": "related",
                "href": f"../{recipe.id}/collection.json",
                "type": publish.JSON_TYPE,
                "title": "benchmark",
            },
            *links,
        ],
    }


def _file_asset(path: Path, href: str, title: str, roles: list[str] | None = None) -> dict[str, Any]:
    return {
        "href": href,
        "type": MEDIA.get(path.suffix, "application/octet-stream"),
        "roles": roles or ["data"],
        "title": title,
        "file:size": path.stat().st_size,
        "file:checksum": multihash_sha256(path),
    }
