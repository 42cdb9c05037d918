"""STAC items and collection shaped like Planetary Computer ``landsat-c2-l2`` (stactools-generated).

As PC: STAC 1.0.0, projection v1 (``proj:epsg``, item-level ``proj:shape``/``proj:transform``),
``raster:bands`` with scale/offset on every band, ``classification:bitfields`` on ``qa_pixel``. One
deliberate difference: the Landsat extension is the stac-extensions v2.0.0 schema (what stactools writes,
and what the offline schema mirror holds) instead of PC's ``landsat.usgs.gov`` v1.1.1 URL.
"""

from __future__ import annotations

from typing import Any, Final

from ml4earth_stac.archive._cog import COG_MEDIA_TYPE
from ml4earth_stac.archive._grid import to_wgs84
from ml4earth_stac.archive._items import _iso, collection_extent
from ml4earth_stac.archive._landsat import (
    PIXEL_M,
    SR_OFFSET,
    SR_SCALE,
    ST_OFFSET,
    ST_SCALE,
    LandsatGrid,
    LandsatPlan,
)
from ml4earth_stac.archive._spec import LANDSAT_COLLECTION_ID

LANDSAT_EXTENSIONS: Final = [
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/eo/v1.0.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.0.0/schema.json",
    "https://stac-extensions.github.io/landsat/v2.0.0/schema.json",
    "https://stac-extensions.github.io/classification/v1.0.0/schema.json",
    "https://stac-extensions.github.io/scientific/v1.0.0/schema.json",
]
DOI: Final = {True: "10.5066/P9OGBGM6", False: "10.5066/P9C7I13B"}
COLLECTION_LINK: Final = {"rel": "collection", "href": "../collection.json", "type": "application/json"}
# QA_PIXEL bit fields: (name, offset, length, description, classes as (value, name)).
_YES_NO: Final = ((0, "no"), (1, "yes"))
_CONF: Final = ((0, "not_set"), (1, "low"), (2, "medium"), (3, "high"))
QA_PIXEL_FIELDS: Final = (
    ("fill", 0, 1, "Image or fill data", ((0, "not_fill"), (1, "fill"))),
    ("dilated_cloud", 1, 1, "Dilated cloud", _YES_NO),
    ("cirrus", 2, 1, "Cirrus mask (OLI only)", _YES_NO),
    ("cloud", 3, 1, "Cloud mask", _YES_NO),
    ("cloud_shadow", 4, 1, "Cloud shadow mask", _YES_NO),
    ("snow", 5, 1, "Snow/Ice mask", _YES_NO),
    ("clear", 6, 1, "Cloud and dilated cloud bits are not set", _YES_NO),
    ("water", 7, 1, "Water mask", _YES_NO),
    ("cloud_confidence", 8, 2, "Cloud confidence levels", _CONF),
    ("cloud_shadow_confidence", 10, 2, "Cloud shadow confidence levels", _CONF),
    ("snow_confidence", 12, 2, "Snow/Ice confidence levels", _CONF),
    ("cirrus_confidence", 14, 2, "Cirrus confidence levels (OLI only)", _CONF),
)


def landsat_href(plan: LandsatPlan, suffix: str) -> str:
    """Href (relative to the archive root) of a Landsat file, e.g. ``cogs/<id>/<id>_SR_B4.TIF``."""
    return f"cogs/{plan.item_id}/{plan.item_id}_{suffix}.TIF"


def qa_bitfields() -> list[dict[str, Any]]:
    """``classification:bitfields`` of QA_PIXEL."""
    return [
        {
            "name": name,
            "offset": offset,
            "length": length,
            "description": description,
            "classes": [{"value": v, "name": n, "description": n.replace("_", " ")} for v, n in classes],
        }
        for name, offset, length, description, classes in QA_PIXEL_FIELDS
    ]


def _sr_assets(plan: LandsatPlan) -> dict[str, Any]:
    out = {}
    for band in plan.bands:
        out[band.key] = {
            "href": landsat_href(plan, band.suffix),
            "type": COG_MEDIA_TYPE,
            "title": band.title,
            "description": f"Collection 2 Level-2 {band.title} ({band.suffix}) Surface Reflectance",
            "eo:bands": [
                {
                    "name": band.eo_name,
                    "common_name": band.key,
                    "center_wavelength": band.center,
                    "full_width_half_max": band.fwhm,
                }
            ],
            "raster:bands": [
                {
                    "scale": SR_SCALE,
                    "nodata": 0,
                    "offset": SR_OFFSET,
                    "data_type": "uint16",
                    "spatial_resolution": 30,
                }
            ],
            "roles": ["data", "reflectance"],
        }
    return out


def landsat_assets(plan: LandsatPlan) -> dict[str, Any]:
    """Raster assets of one item: SR bands, ``lwir11`` (L8) or ``lwir`` (L7), ``qa_pixel``, ``qa_radsat``."""
    key, eo_name, center, fwhm, gsd, suffix = plan.thermal
    out = _sr_assets(plan)
    out[key] = {
        "href": landsat_href(plan, suffix),
        "type": COG_MEDIA_TYPE,
        "title": "Surface Temperature Band",
        "description": f"Collection 2 Level-2 Thermal Infrared Band ({suffix}) Surface Temperature",
        "gsd": gsd,
        "eo:bands": [
            {"name": eo_name, "common_name": key, "center_wavelength": center, "full_width_half_max": fwhm}
        ],
        "raster:bands": [
            {
                "unit": "kelvin",
                "scale": ST_SCALE,
                "nodata": 0,
                "offset": ST_OFFSET,
                "data_type": "uint16",
                "spatial_resolution": 30,
            }
        ],
        "roles": ["data", "temperature"],
    }
    out["qa_pixel"] = {
        "href": landsat_href(plan, "QA_PIXEL"),
        "type": COG_MEDIA_TYPE,
        "title": "Pixel Quality Assessment Band",
        "description": "Collection 2 Level-1 Pixel Quality Assessment Band (QA_PIXEL)",
        "classification:bitfields": qa_bitfields(),
        "raster:bands": [{"unit": "bit index", "nodata": 1, "data_type": "uint16", "spatial_resolution": 30}],
        "roles": ["cloud", "cloud-shadow", "snow-ice", "water-mask"],
    }
    out["qa_radsat"] = {
        "href": landsat_href(plan, "QA_RADSAT"),
        "type": COG_MEDIA_TYPE,
        "title": "Radiometric Saturation Quality Assessment Band",
        "description": "Collection 2 Level-1 Radiometric Saturation Quality Assessment Band (QA_RADSAT)",
        "raster:bands": [{"unit": "bit index", "data_type": "uint16", "spatial_resolution": 30}],
        "roles": ["saturation"],
    }
    return out


def landsat_properties(plan: LandsatPlan, lgrid: LandsatGrid, cloud_cover: float) -> dict[str, Any]:
    """PC ``landsat-c2-l2`` item properties (``proj:epsg``, ``landsat:*``, ``view:*``)."""
    return {
        "gsd": 30,
        "sci:doi": DOI[plan.oli],
        "datetime": _iso(plan.sensing_time),
        "platform": plan.platform,
        "proj:epsg": lgrid.epsg,
        "proj:shape": lgrid.shape,
        "description": "Landsat Collection 2 Level-2",
        "instruments": ["oli", "tirs"] if plan.oli else ["etm+"],
        "eo:cloud_cover": round(cloud_cover, 2),
        "proj:transform": lgrid.transform,
        "view:off_nadir": 0,
        "landsat:wrs_row": f"{plan.wrs_row:03d}",
        "landsat:scene_id": plan.scene_id,
        "landsat:wrs_path": f"{plan.wrs_path:03d}",
        "landsat:wrs_type": "2",
        "view:sun_azimuth": round(plan.sun_azimuth, 8),
        "landsat:correction": "L2SP",
        "view:sun_elevation": round(90.0 - plan.sun_zenith, 8),
        "landsat:cloud_cover_land": round(cloud_cover, 2),
        "landsat:collection_number": "02",
        "landsat:collection_category": "T1",
    }


def landsat_item_dict(plan: LandsatPlan, lgrid: LandsatGrid, cloud_cover: float) -> dict[str, Any]:
    """One PC-shaped ``landsat-c2-l2`` item (no self/parent/root links; the server adds them).

    Args:
        plan: the Landsat plan.
        lgrid: the 30 m grid.
        cloud_cover: percent of non-fill pixels flagged cloud in QA_PIXEL.

    Returns:
        The item as a JSON-ready dict.
    """
    side = lgrid.size * PIXEL_M
    corners = [(lgrid.x0, lgrid.y0 - side), (lgrid.x0 + side, lgrid.y0 - side), (lgrid.x0 + side, lgrid.y0)]
    ring = to_wgs84([*corners, (lgrid.x0, lgrid.y0), corners[0]], lgrid.epsg)
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    return {
        "id": plan.item_id,
        "bbox": [min(lons), min(lats), max(lons), max(lats)],
        "type": "Feature",
        "links": [dict(COLLECTION_LINK), {"rel": "cite-as", "href": f"https://doi.org/{DOI[plan.oli]}"}],
        "assets": landsat_assets(plan),
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "collection": LANDSAT_COLLECTION_ID,
        "properties": landsat_properties(plan, lgrid, cloud_cover),
        "stac_extensions": list(LANDSAT_EXTENSIONS),
        "stac_version": "1.0.0",
    }


def landsat_collection_dict(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The PC-shaped ``landsat-c2-l2`` collection covering ``items``."""
    return {
        "type": "Collection",
        "id": LANDSAT_COLLECTION_ID,
        "stac_version": "1.0.0",
        "title": "Landsat Collection 2 Level-2",
        "description": (
            "Synthetic sample of the Planetary Computer Landsat Collection 2 Level-2 collection (Landsat 7 "
            "ETM+ with SLC-off gaps and Landsat 8 OLI/TIRS) over Kronebreen, Svalbard. Not real data."
        ),
        "license": "proprietary",
        "links": [{"rel": "license", "href": "https://www.usgs.gov/core-science-systems/hdds/data-policy"}],
        "stac_extensions": ["https://stac-extensions.github.io/item-assets/v1.0.0/schema.json"],
        "keywords": [
            "Landsat",
            "USGS",
            "NASA",
            "Satellite",
            "Global",
            "Imagery",
            "Reflectance",
            "Temperature",
        ],
        "providers": [
            {"name": "NASA", "roles": ["producer", "licensor"], "url": "https://landsat.gsfc.nasa.gov/"},
            {"name": "USGS", "roles": ["producer", "processor", "licensor"], "url": "https://www.usgs.gov/"},
            {"name": "ml4earth-stac sample archive", "roles": ["host"]},
        ],
        "extent": collection_extent(items),
        "summaries": {
            "platform": sorted({it["properties"]["platform"] for it in items}),
            "instruments": ["etm+", "oli", "tirs"],
            "gsd": [30],
        },
        "item_assets": _item_assets(items),
    }


def _item_assets(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Asset templates over all items (Landsat 7 and 8 have different keys)."""
    out: dict[str, Any] = {}
    for item in items:
        for key, asset in item["assets"].items():
            out.setdefault(
                key, {f: v for f, v in asset.items() if f in ("type", "title", "roles", "raster:bands")}
            )
    return dict(sorted(out.items()))
