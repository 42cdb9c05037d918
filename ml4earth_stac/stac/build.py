"""Build the STAC documents of a benchmark as plain dicts (STAC 1.1).

Plain dicts, not pystac objects: they are written as they are made, and a catalog of 100k items
never needs a whole-tree walk (see STACK-NOTES, catalog scale).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import shapely.geometry

from ml4earth_stac.config import Recipe
from ml4earth_stac.grid import GridSpec
from ml4earth_stac.sensors.adapters import SensorAdapter
from ml4earth_stac.store.cube import group_path

STAC_VERSION: Final = "1.1.0"
ZARR_MEDIA_TYPE: Final = "application/vnd+zarr"
EXT: Final = {
    # projection v1.2.0 defines both proj:code and proj:epsg (v2.0.0 forbids proj:epsg, which GDAL 3.6
    # STACIT needs); both are written.
    "proj": "https://stac-extensions.github.io/projection/v1.2.0/schema.json",
    "file": "https://stac-extensions.github.io/file/v2.1.0/schema.json",
    "eo": "https://stac-extensions.github.io/eo/v2.0.0/schema.json",
    "xarray": "https://stac-extensions.github.io/xarray-assets/v1.0.0/schema.json",
    "sci": "https://stac-extensions.github.io/scientific/v1.0.0/schema.json",
}


@dataclass(frozen=True)
class PublishedScene:
    """What the STAC item of one ingested scene needs to know."""

    aoi: str
    item_id: str
    upstream: dict[str, Any]
    time_index: int
    grid: GridSpec
    valid_fraction: float
    cloud_fraction: float
    adapter: SensorAdapter
    bands: tuple[str, ...]
    facts: Mapping[str, Any] = field(default_factory=dict)
    preview: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def sensor(self) -> str:
        """The sensor name, e.g. ``sentinel-2``."""
        return self.adapter.sensor

    @property
    def group(self) -> str:
        """The cube group holding this scene."""
        return group_path(self.aoi, self.sensor)

    @property
    def stac_id(self) -> str:
        """Our item id: AOI plus upstream id (one upstream scene can serve several AOIs)."""
        return f"{self.aoi}-{self.item_id}"


def band_objects(adapter: SensorAdapter, bands: Sequence[str]) -> list[dict[str, Any]]:
    """STAC 1.1 ``bands`` of a cube variable (eo fields where a band has a wavelength; float32 values)."""
    objects = []
    for name in bands:
        info = adapter.band(name)
        band: dict[str, Any] = {
            "name": name,
            "description": f"{adapter.long_name.split(',')[0]}, {name}",
            "data_type": "float32",
            "nodata": "nan",
            "unit": adapter.units,
        }
        if info.center_wavelength is not None:
            band["eo:center_wavelength"] = info.center_wavelength
        if info.full_width_half_max is not None:
            band["eo:full_width_half_max"] = info.full_width_half_max
        if info.common_name:
            band["eo:common_name"] = info.common_name
        objects.append(band)
    return objects


def proj_fields(grid: GridSpec) -> dict[str, Any]:
    """Projection extension fields of a grid, with ``proj:epsg`` too (GDAL STACIT on GDAL 3.6 needs it)."""
    return {
        "proj:code": grid.crs,
        "proj:epsg": grid.epsg,
        "proj:shape": list(grid.shape),
        "proj:transform": list(grid.transform),
        "proj:bbox": list(grid.bounds),
    }


def cube_asset(
    href: str, group: str | None, bands: list[dict[str, Any]], title: str, shard_px: int
) -> dict[str, Any]:
    """An asset pointing at one AOI/sensor group of the cube store.

    Its ``xarray:open_kwargs`` ask for dask chunks of whole shards: reading inner chunks one by one
    over HTTP is many times slower.
    """
    chunks = {"time": 1, "band": 1, "y": shard_px, "x": shard_px}
    open_kwargs: dict[str, Any] = {"engine": "zarr", "consolidated": True, "chunks": chunks}
    if group is not None:
        open_kwargs["group"] = group
    asset = {
        "href": href,
        "type": ZARR_MEDIA_TYPE,
        "roles": ["data"],
        "title": title,
        "xarray:open_kwargs": open_kwargs,
    }
    if bands:
        asset["bands"] = bands
    return asset


def file_asset(href: str, media_type: str, roles: list[str], title: str, size: int, checksum: str) -> dict:
    """An asset pointing at one file we wrote, with its size and checksum."""
    return {
        "href": href,
        "type": media_type,
        "roles": roles,
        "title": title,
        "file:size": size,
        "file:checksum": checksum,
    }


def scene_item(scene: PublishedScene, assets: dict[str, dict], collection_id: str) -> dict:
    """The STAC item of one ingested scene (its geometry is the scene's footprint clipped to the grid)."""
    footprint = shapely.geometry.shape(scene.grid.footprint_wgs84())
    upstream_geometry = scene.upstream.get("geometry")
    if upstream_geometry:
        clipped = footprint.intersection(shapely.geometry.shape(upstream_geometry))
        footprint = clipped if not clipped.is_empty else footprint
    props = scene.upstream.get("properties", {})
    properties = {
        "datetime": props["datetime"],
        "platform": str(props.get("platform", scene.sensor)).lower(),
        "instruments": [str(i).lower() for i in props.get("instruments", [])] or [scene.sensor],
        "gsd": scene.grid.resolution,
        "eo:cloud_cover": round(100 * scene.cloud_fraction, 3),
        "ml4earth:valid_fraction": round(scene.valid_fraction, 5),
        "ml4earth:aoi": scene.aoi,
        "ml4earth:sensor": scene.sensor,
        "ml4earth:time_index": scene.time_index,
        **{f"ml4earth:{name}": value for name, value in scene.facts.items()},
        **proj_fields(scene.grid),
    }
    if props.get("constellation"):
        properties["constellation"] = str(props["constellation"]).lower().replace(" ", "-")
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": [EXT["proj"], EXT["file"], EXT["eo"], EXT["xarray"]],
        "id": scene.stac_id,
        "collection": collection_id,
        "geometry": shapely.geometry.mapping(footprint),
        "bbox": list(footprint.bounds),
        "properties": properties,
        "assets": assets,
        "links": _derived_from_links(scene.upstream),
    }


def _derived_from_links(upstream: dict[str, Any]) -> list[dict[str, Any]]:
    links = [link for link in upstream.get("links", []) if link.get("rel") == "self"]
    return [
        {
            "rel": "derived_from",
            "href": _unsigned(link["href"]),
            "type": "application/geo+json",
            "title": f"upstream scene {upstream['id']}",
        }
        for link in links
    ]


def _unsigned(href: str) -> str:
    """Drop any query string (SAS tokens must never be published)."""
    return href.split("?", 1)[0]


def benchmark_collection(
    recipe: Recipe, scenes: list[PublishedScene], assets: dict[str, dict], upstream_api: str
) -> dict[str, Any]:
    """The benchmark's collection: extent, providers, citation, summaries and collection-level assets."""
    bounds = [s.grid.footprint_wgs84() for s in scenes] or [a.geometry for a in recipe.aois]
    union = shapely.geometry.GeometryCollection([shapely.geometry.shape(g) for g in bounds])
    times = sorted(s.upstream["properties"]["datetime"] for s in scenes)
    interval = [times[0], times[-1]] if times else [f"{recipe.time_range.start}T00:00:00Z", None]
    collection: dict[str, Any] = {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [EXT["proj"], EXT["file"], EXT["eo"], EXT["xarray"]],
        "id": recipe.id,
        "title": recipe.title,
        "description": recipe.description,
        "license": recipe.license,
        "keywords": recipe.keywords,
        "providers": [p.model_dump(exclude_none=True) for p in recipe.providers]
        + [{"name": "Upstream STAC API", "roles": ["host"], "url": _unsigned(upstream_api)}],
        "extent": {"spatial": {"bbox": [list(union.bounds)]}, "temporal": {"interval": [interval]}},
        "summaries": _summaries(recipe, scenes),
        "assets": assets,
        "links": [],
        "ml4earth:generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if recipe.citation:
        collection["stac_extensions"].append(EXT["sci"])
        collection["sci:citation"] = recipe.citation.text
        if recipe.citation.doi:
            collection["sci:doi"] = recipe.citation.doi
    return collection


def _summaries(recipe: Recipe, scenes: list[PublishedScene]) -> dict[str, Any]:
    platforms = sorted({str(s.upstream["properties"].get("platform", "")).lower() for s in scenes} - {""})
    instruments = sorted(
        {str(i).lower() for s in scenes for i in s.upstream["properties"].get("instruments", [])}
    )
    by_sensor = {s.sensor: band_objects(s.adapter, s.bands) for s in scenes}
    return {
        "platform": platforms or [source.sensor for source in recipe.sources],
        "instruments": instruments or [source.sensor for source in recipe.sources],
        "gsd": [recipe.grid.resolution],
        "bands": [band for bands in by_sensor.values() for band in bands],
        "ml4earth:sensor": sorted(by_sensor) or [source.sensor for source in recipe.sources],
        "ml4earth:aoi": [a.name for a in recipe.aois],
    }


def root_catalog(collection_ids: list[str], titles: dict[str, str]) -> dict[str, Any]:
    """The root catalog listing every published benchmark collection."""
    links = [
        {"rel": "root", "href": "./catalog.json", "type": "application/json"},
        {"rel": "self", "href": "./catalog.json", "type": "application/json"},
    ]
    links += [
        {
            "rel": "child",
            "href": f"./{cid}/collection.json",
            "type": "application/json",
            "title": titles.get(cid, cid),
        }
        for cid in sorted(collection_ids)
    ]
    return {
        "type": "Catalog",
        "stac_version": STAC_VERSION,
        "id": "ml4earth-benchmarks",
        "title": "ML4Earth benchmark datasets",
        "description": "ML-ready Earth-observation benchmarks built by ml4earth-stac.",
        "links": links,
    }
