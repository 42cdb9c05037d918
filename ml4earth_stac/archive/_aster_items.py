"""ASTER L1T items, collection and ECS ``.hdf.xml`` shaped like Planetary Computer ``aster-l1t``; the writer.

As PC (``shared/reference/stac-items/planetary-computer/aster-l1t/``): STAC 1.0.0, eo v1.0.0, sat, view,
projection v1.0.0 (``proj:epsg``; per-asset ``proj:bbox``/``proj:shape``/9-coefficient ``proj:transform``),
raster v1.1.0; multi-band assets ``VNIR``/``SWIR``/``TIR`` and ``xml``; no gains in STAC. Deliberate
differences: SWIR bands 8 and 9 carry no ``common_name`` (PC's ``swir`` fails eo v1.0.0), no browse, tile or
preview assets, hrefs relative to the archive root (``cogs/<id>/<id>_<processing number>.VNIR.tif``), and
acquisitions after 2006 (PC holds 2000-2006 only). The XML (``_aster_xml``) keeps the element structure of a
real ECS granule file; its ``DataFiles`` list the three COGs written here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from ml4earth_stac.archive import _scene as S
from ml4earth_stac.archive._aster import (
    ASTER_DOI,
    GSD_M,
    AsterGrid,
    AsterPlan,
    aster_rasters,
)
from ml4earth_stac.archive._aster_xml import aster_xml
from ml4earth_stac.archive._cog import COG_MEDIA_TYPE, write_cog
from ml4earth_stac.archive._grid import SceneGrid, ring_xy, to_wgs84
from ml4earth_stac.archive._items import _iso, collection_extent, footprint_uv
from ml4earth_stac.archive._spec import ASTER_COLLECTION_ID
from ml4earth_stac.sensors import aster

ASTER_EXTENSIONS: Final = [
    "https://stac-extensions.github.io/eo/v1.0.0/schema.json",
    "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.0.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
]
COLLECTION_LINK: Final = {"rel": "collection", "href": "../collection.json", "type": "application/json"}
LICENSE_LINK: Final = {
    "rel": "license",
    "href": "https://www.usgs.gov/core-science-systems/hdds/data-policy",
    "title": "Public Domain",
}
XML_MEDIA_TYPE: Final = "application/xml"
DESCRIPTIONS: Final = {"B01": "visible yellow/green", "B02": "visible red", "B3N": "near infrared"} | {
    "SWIR": "short-wave infrared",
    "TIR": "thermal infrared",
}
ASSET_TITLES: Final = {"VNIR": "VNIR Swath data", "SWIR": "SWIR Swath data", "TIR": "TIR Swath data"}
XML_TITLE: Final = "XML metadata"
QUADRANTS: Final = ("upper_left", "upper_right", "lower_left", "lower_right")


def aster_href(plan: AsterPlan, suffix: str) -> str:
    """Href (relative to the archive root) of a scene file, e.g. ``cogs/<id>/<id>_98532.VNIR.tif``."""
    return f"cogs/{plan.item_id}/{plan.file_stem}.{suffix}"


def _eo_band(record: aster.AsterBand) -> dict[str, Any]:
    out: dict[str, Any] = {"name": record.eo_name}
    if record.common_name:
        out["common_name"] = record.common_name
    description = DESCRIPTIONS.get(record.name) or DESCRIPTIONS[record.subsystem]
    out.update(description=description, center_wavelength=record.center_wavelength)
    out["full_width_half_max"] = record.full_width_half_max
    return out


def _band_lists(key: str) -> dict[str, list[dict[str, Any]]]:
    """``eo:bands`` and ``raster:bands`` of one multi-band asset, as PC writes them."""
    records = aster.SUBSYSTEMS[key]
    raster = [
        {"name": r.eo_name, "nodata": 0, "data_type": r.dtype, "spatial_resolution": GSD_M[key]}
        for r in records
    ]
    return {"eo:bands": [_eo_band(r) for r in records], "raster:bands": raster}


def aster_assets(plan: AsterPlan, agrid: AsterGrid) -> dict[str, Any]:
    """The ``VNIR``, ``SWIR``, ``TIR`` and ``xml`` assets of one item."""
    out: dict[str, Any] = {}
    for key in ("VNIR", "SWIR", "TIR"):
        res = GSD_M[key]
        out[key] = {
            "href": aster_href(plan, f"{key}.tif"),
            "type": COG_MEDIA_TYPE,
            **_band_lists(key),
            "proj:bbox": agrid.bbox,
            "proj:shape": list(agrid.shape(res)),
            "proj:transform": [*agrid.transform(res), 0.0, 0.0, 1.0],
            "roles": ["data"],
            "title": ASSET_TITLES[key],
        }
    out["xml"] = {
        "href": aster_href(plan, "hdf.xml"),
        "type": XML_MEDIA_TYPE,
        "roles": ["metadata"],
        "title": XML_TITLE,
    }
    return out


def cloud_covers(layers: S.SceneLayers) -> dict[str, float]:
    """Whole-percent cloud cover (cloud opacity > 0) of the valid data: ``scene`` and the four quadrants."""
    cloudy, valid = layers.cloud > 0, layers.valid
    h, w = valid.shape[0] // 2, valid.shape[1] // 2
    parts = {
        "scene": (slice(None), slice(None)),
        "upper_left": (slice(None, h), slice(None, w)),
        "upper_right": (slice(None, h), slice(w, None)),
        "lower_left": (slice(h, None), slice(None, w)),
        "lower_right": (slice(h, None), slice(w, None)),
    }
    out = {}
    for key, part in parts.items():
        ok = valid[part]
        out[key] = float(round(100.0 * float(cloudy[part][ok].mean()))) if ok.any() else 0.0
    return out


def aster_properties(plan: AsterPlan, clouds: Mapping[str, float]) -> dict[str, Any]:
    """PC ``aster-l1t`` item properties (``created`` is the production time)."""
    props: dict[str, Any] = {
        "created": _iso(plan.production_time),
        "datetime": _iso(plan.sensing_time),
        "platform": "terra",
        "proj:epsg": plan.epsg,
        "instruments": ["aster"],
        "eo:cloud_cover": clouds["scene"],
        "view:off_nadir": abs(plan.pointing_deg[2]),
        "sat:orbit_state": "descending",
        "view:sun_azimuth": plan.sun_azimuth,
        "view:sun_elevation": plan.sun_elevation,
        "aster:processing_number": plan.processing_number,
    }
    props.update({f"aster:{q}_quad_cloud_cover": clouds[q] for q in QUADRANTS})
    return props


def footprint_lonlat(grid: SceneGrid) -> list[list[float]]:
    """The data footprint (the scene grid; the L1T frame around it is nodata): closed CCW lon/lat ring."""
    return to_wgs84(ring_xy(grid, footprint_uv(-1), per_edge=4), grid.epsg)


def aster_item_dict(
    plan: AsterPlan, grid: SceneGrid, agrid: AsterGrid, clouds: Mapping[str, float]
) -> dict[str, Any]:
    """One PC-shaped ``aster-l1t`` item (no self/parent/root links; the server adds them).

    Args:
        plan: the ASTER plan.
        grid: the scene grid (the data footprint).
        agrid: the L1T grid of the rasters.
        clouds: ``cloud_covers`` of the date's layers.

    Returns:
        The item as a JSON-ready dict.
    """
    ring = footprint_lonlat(grid)
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    return {
        "id": plan.item_id,
        "bbox": [min(lons), min(lats), max(lons), max(lats)],
        "type": "Feature",
        "links": [dict(COLLECTION_LINK), {"rel": "cite-as", "href": f"https://doi.org/{ASTER_DOI}"}],
        "assets": aster_assets(plan, agrid),
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "collection": ASTER_COLLECTION_ID,
        "properties": aster_properties(plan, clouds),
        "stac_extensions": list(ASTER_EXTENSIONS),
        "stac_version": "1.0.0",
    }


def _item_assets() -> dict[str, Any]:
    """``item_assets`` templates: the data assets with their band lists (``gsd`` per band), and ``xml``."""
    out: dict[str, Any] = {}
    for key in ("VNIR", "SWIR", "TIR"):
        bands = _band_lists(key)
        eo = [{"gsd": GSD_M[key], **band} for band in bands["eo:bands"]]
        out[key] = {"type": COG_MEDIA_TYPE, "roles": ["data"], "title": ASSET_TITLES[key]}
        out[key] |= {"eo:bands": eo, "raster:bands": bands["raster:bands"]}
    out["xml"] = {"type": XML_MEDIA_TYPE, "roles": ["metadata"], "title": XML_TITLE}
    return out


def aster_collection_dict(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The PC-shaped ``aster-l1t`` collection covering ``items`` (at least one)."""
    assets = _item_assets()
    return {
        "type": "Collection",
        "id": ASTER_COLLECTION_ID,
        "stac_version": "1.0.0",
        "title": "ASTER L1T",
        "description": (
            "Synthetic sample of the Planetary Computer ASTER L1T collection (Terra ASTER, 15 m VNIR, "
            "30 m SWIR, 90 m TIR; terrain-corrected, north-up UTM; gains only in the xml asset) over "
            "Svalbard glaciers. Real ASTER L1T data are distributed by the NASA LP DAAC with no "
            "restrictions on reuse, sale or redistribution; Planetary Computer hosts 2000-2006. "
            "Not real data."
        ),
        "license": "proprietary",
        "links": [dict(LICENSE_LINK), {"rel": "cite-as", "href": f"https://doi.org/{ASTER_DOI}"}],
        "stac_extensions": ["https://stac-extensions.github.io/item-assets/v1.0.0/schema.json"],
        "keywords": ["ASTER", "USGS", "NASA", "Satellite", "Global"],
        "providers": [
            {
                "name": "NASA",
                "roles": ["producer", "licensor"],
                "url": "https://terra.nasa.gov/about/terra-instruments/aster",
            },
            {
                "name": "USGS",
                "roles": ["processor", "producer", "licensor"],
                "url": "https://lpdaac.usgs.gov/data/get-started-data/collection-overview/missions/aster-overview/",
            },
            {"name": "ml4earth-stac sample archive", "roles": ["host"]},
        ],
        "extent": collection_extent(items),
        "summaries": {
            "gsd": sorted(GSD_M.values()),
            "eo:bands": [band for key in ("VNIR", "SWIR", "TIR") for band in assets[key]["eo:bands"]],
            "platform": ["terra"],
            "instruments": ["aster"],
        },
        "item_assets": assets,
    }


def _file_info(path: Path) -> tuple[int, str]:
    with path.open("rb") as f:
        return path.stat().st_size, hashlib.file_digest(f, "md5").hexdigest()


def write_aster_scene(
    root: Path, grid: SceneGrid, layers: S.SceneLayers, plan: AsterPlan, seed: int
) -> dict[str, Any]:
    """Synthesize and write one ASTER L1T scene (three COGs and the ``.hdf.xml``); return its item.

    Args:
        root: archive folder; files go to ``root / <asset href>``.
        grid: the scene grid of the glacier.
        layers: the date's 10 m layers with the whole scene valid.
        plan: the ASTER plan.
        seed: the glacier's synthesis seed (``site.synth_seed(spec.seed)``, as for Landsat).

    Returns:
        The item dict (not written; the caller stores it and its manifest record).
    """
    agrid, rasters = aster_rasters(layers, grid, plan, seed)
    files = {}
    for key, data in rasters.items():
        path = root / aster_href(plan, f"{key}.tif")
        write_cog(path, data, agrid.transform(GSD_M[key]), agrid.epsg, aster.NODATA_DN, "average")
        files[path.name] = _file_info(path)
    clouds = cloud_covers(layers)
    xml_path = root / aster_href(plan, "hdf.xml")
    xml_path.write_text(aster_xml(plan, grid, clouds, files), encoding="utf-8")
    return aster_item_dict(plan, grid, agrid, clouds)
