"""Sentinel-2 items and collection shaped like Earth Search v1 ``sentinel-2-l2a`` (provider earth-search).

What differs from the Planetary Computer flavour (SENSORS.md 1.1-1.3): STAC 1.0.0 with projection v1.1.0
(``proj:epsg``); asset keys by common name (``red``, ``nir08``, ``scl``, ``visual`` ...) pointing at files
named by band (``B04.tif``, ``TCI.tif``); AOT and WVP at 20 m; ``raster:bands`` on every raster asset;
platform in lower case; ``view:sun_*`` instead of ``s2:mean_solar_*``; ``earthsearch:boa_offset_applied``
true from baseline 04.00 on, where the COG DN were already shifted by -1000 (they hold ``round(rho * 1e4)``).
Like the real items, those assets still declare ``raster:bands`` offset -0.1 (the Earth Search conflict):
decode with the flag (``sensors.sentinel2.reflectance_offset``), not with ``raster:bands``.
"""

from __future__ import annotations

from typing import Any, Final

from ml4earth_stac.archive._bands import BANDS, boa_offset_dn
from ml4earth_stac.archive._cog import COG_MEDIA_TYPE
from ml4earth_stac.archive._grid import SceneGrid, ring_xy, to_wgs84
from ml4earth_stac.archive._items import (
    COLLECTION_LINK,
    LICENSE_LINK,
    SceneStats,
    _iso,
    _s2_ids,
    collection_extent,
    footprint_uv,
    reflectance_conversion_factor,
)
from ml4earth_stac.archive._spec import COLLECTION_ID, ScenePlan

ES_EXTENSIONS: Final = [
    "https://stac-extensions.github.io/processing/v1.1.0/schema.json",
    "https://stac-extensions.github.io/grid/v1.0.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json",
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
]
# Earth Search key -> (PC band name, description), in BANDS order.
ES_BANDS: Final = {
    "coastal": ("B01", "Coastal aerosol (band 1)"),
    "blue": ("B02", "Blue (band 2)"),
    "green": ("B03", "Green (band 3)"),
    "red": ("B04", "Red (band 4)"),
    "rededge1": ("B05", "Red edge 1 (band 5)"),
    "rededge2": ("B06", "Red edge 2 (band 6)"),
    "rededge3": ("B07", "Red edge 3 (band 7)"),
    "nir": ("B08", "NIR 1 (band 8)"),
    "nir08": ("B8A", "NIR 2 (band 8A)"),
    "nir09": ("B09", "NIR 3 (band 9)"),
    "swir16": ("B11", "SWIR 1 (band 11)"),
    "swir22": ("B12", "SWIR 2 (band 12)"),
}
# Non-spectral assets: key -> (file stem, gsd, title).
ES_EXTRA: Final = {
    "scl": ("SCL", 20, "Scene classification map (SCL)"),
    "aot": ("AOT", 20, "Aerosol optical thickness (AOT)"),
    "wvp": ("WVP", 20, "Water vapour (WVP)"),
    "visual": ("TCI", 10, "True color image"),
}
ES_FILE_STEM: Final = {**{k: v[0] for k, v in ES_BANDS.items()}, **{k: v[0] for k, v in ES_EXTRA.items()}}
ES_ATMOSPHERE_GSD: Final = 20
_GSD: Final = {b.name: b.gsd for b in BANDS}
_S3_PREFIX: Final = "sentinel-cogs/sentinel-s2-l2a-cogs"


def es_asset_href(item_id: str, key: str) -> str:
    """Href (relative to the archive root) of an Earth Search asset: files are named by band, ``TCI.tif``."""
    return f"cogs/{item_id}/{ES_FILE_STEM[key]}.tif"


def es_eo_band(key: str) -> dict[str, Any]:
    """The ``eo:bands`` entry Earth Search writes (name = asset key, common name ``rededge`` for B05-B07)."""
    name, description = ES_BANDS[key]
    band = next(b for b in BANDS if b.name == name)
    common = "rededge" if key.startswith("rededge") else key
    return {
        "name": key,
        "common_name": common,
        "description": description,
        "center_wavelength": band.center,
        "full_width_half_max": band.fwhm,
    }


def _raster_band(gsd: int, dtype: str, scale: float | None, offset: float, unit: str | None = None):
    out: dict[str, Any] = {"nodata": 0, "data_type": dtype}
    if dtype == "uint16":
        out["bits_per_sample"] = 15
    out["spatial_resolution"] = gsd
    if unit:
        out["unit"] = unit
    if scale is not None:
        out.update(scale=scale, offset=offset)
    return out


def es_item_assets(grid: SceneGrid, item_id: str, baseline: str) -> dict[str, Any]:
    """The raster assets of one Earth Search item (``coastal`` .. ``swir22``, ``scl``, ``aot``, ...)."""
    offset = -0.1 if boa_offset_dn(baseline) else 0.0
    out: dict[str, Any] = {}
    for key, (name, description) in ES_BANDS.items():
        gsd = _GSD[name]
        out[key] = {
            "href": es_asset_href(item_id, key),
            "type": COG_MEDIA_TYPE,
            "title": f"{description} - {gsd}m",
            "eo:bands": [es_eo_band(key)],
            "gsd": gsd,
            "proj:shape": list(grid.shape(gsd)),
            "proj:transform": grid.transform(gsd),
            "raster:bands": [_raster_band(gsd, "uint16", 0.0001, offset)],
            "roles": ["data", "reflectance"],
        }
    for key, (_, gsd, title) in ES_EXTRA.items():
        asset: dict[str, Any] = {"href": es_asset_href(item_id, key), "type": COG_MEDIA_TYPE, "title": title}
        if key == "visual":
            asset["eo:bands"] = [es_eo_band(k) for k in ("red", "green", "blue")]
        asset.update({"proj:shape": list(grid.shape(gsd)), "proj:transform": grid.transform(gsd)})
        if key == "scl":
            asset["raster:bands"] = [_raster_band(gsd, "uint8", None, 0.0)]
        elif key != "visual":
            asset["raster:bands"] = [_raster_band(gsd, "uint16", 0.001, 0.0, "cm" if key == "wvp" else None)]
        asset["roles"] = ["visual"] if key == "visual" else ["data", "reflectance"]
        out[key] = asset
    return dict(sorted(out.items()))


def es_item_properties(plan: ScenePlan, stats: SceneStats) -> dict[str, Any]:
    """Earth Search v1 item properties (``proj:epsg``, ``mgrs:*``, ``earthsearch:boa_offset_applied`` ...)."""
    ids = {k: v.replace("_ESRI_", "_2APS_") for k, v in _s2_ids(plan).items()}
    tile = plan.mgrs_tile
    s3 = f"s3://{_S3_PREFIX}/{tile[:2]}/{tile[2]}/{tile[3:]}/{plan.sensing_time:%Y/%-m}/{plan.item_id}"
    created = _iso(plan.generation_time)
    props: dict[str, Any] = {
        "created": created,
        "platform": plan.platform.lower(),
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "eo:cloud_cover": round(stats.cloud_cover, 6),
        "proj:epsg": plan.epsg,
        "mgrs:utm_zone": int(tile[:2]),
        "mgrs:latitude_band": tile[2],
        "mgrs:grid_square": tile[3:],
        "grid:code": f"MGRS-{tile}",
        "view:sun_azimuth": round(plan.sun_azimuth, 6),
        "view:sun_elevation": round(90.0 - plan.sun_zenith, 6),
    }
    props.update({k: round(v, 6) for k, v in stats.percentages.items()})
    props.update(
        {
            "s2:product_type": "S2MSI2A",
            "s2:processing_baseline": plan.processing_baseline,
            **ids,
            "s2:generation_time": _iso(plan.generation_time),
            "s2:datatake_type": "INS-NOBS",
            "s2:reflectance_conversion_factor": round(reflectance_conversion_factor(plan), 9),
            "datetime": _iso(plan.sensing_time),
            "s2:sequence": "0",
            "earthsearch:s3_path": s3,
            "earthsearch:payload_id": f"roda-sentinel2/workflow-sentinel2-to-stac/{plan.item_id.lower()}",
            "earthsearch:boa_offset_applied": bool(boa_offset_dn(plan.processing_baseline)),
            "processing:software": {"sentinel2-to-stac": "0.1.1"},
            "updated": created,
        }
    )
    return props


def es_item_dict(plan: ScenePlan, grid: SceneGrid, stats: SceneStats) -> dict[str, Any]:
    """One Earth Search shaped STAC item (no self/parent/root links; the server adds them).

    Args:
        plan: the acquisition plan (``plan.provider == "earth-search"``).
        grid: the scene grid.
        stats: SCL statistics of the synthesized scene.

    Returns:
        The item as a JSON-ready dict.
    """
    ring = to_wgs84(ring_xy(grid, footprint_uv(plan.nodata_corner), per_edge=4), grid.epsg)
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": plan.item_id,
        "properties": es_item_properties(plan, stats),
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "links": [dict(COLLECTION_LINK), dict(LICENSE_LINK)],
        "assets": es_item_assets(grid, plan.item_id, plan.processing_baseline),
        "bbox": [min(lons), min(lats), max(lons), max(lats)],
        "stac_extensions": list(ES_EXTENSIONS),
        "collection": COLLECTION_ID,
    }


def es_collection_dict(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The Earth Search shaped ``sentinel-2-l2a`` collection covering ``items`` (item_assets say offset 0)."""
    template = es_item_assets(SceneGrid(0.0, 0.0, 6), "x", "02.12")
    assets = {
        k: {f: v for f, v in a.items() if f not in ("href", "proj:shape", "proj:transform")}
        for k, a in template.items()
    }
    return {
        "type": "Collection",
        "id": COLLECTION_ID,
        "stac_version": "1.0.0",
        "title": "Sentinel-2 Level-2A",
        "description": (
            "Synthetic sample of the Earth Search v1 Sentinel-2 L2A collection: seeded scenes of the "
            "Kronebreen tidewater glacier (Kongsfjorden, Svalbard) with known truth. Not real data."
        ),
        "links": [dict(LICENSE_LINK)],
        "stac_extensions": [
            "https://stac-extensions.github.io/item-assets/v1.0.0/schema.json",
            "https://stac-extensions.github.io/view/v1.0.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
        ],
        "extent": collection_extent(items),
        "license": "proprietary",
        "keywords": ["sentinel", "earth observation", "esa", "synthetic"],
        "providers": [
            {"name": "ESA", "roles": ["producer"], "url": "https://earth.esa.int/web/guest/home"},
            {"name": "Element 84", "roles": ["processor"], "url": "https://element84.com"},
            {"name": "ml4earth-stac sample archive", "roles": ["host"]},
        ],
        "summaries": {
            "platform": sorted({it["properties"]["platform"] for it in items}),
            "constellation": ["sentinel-2"],
            "instruments": ["msi"],
            "gsd": [10, 20, 60],
            "view:off_nadir": [0],
            "eo:bands": [es_eo_band(k) for k in ES_BANDS],
        },
        "item_assets": assets,
    }
