"""STAC items and the collection of the archive, shaped like Planetary Computer ``sentinel-2-l2a``.

Differences from PC on purpose: STAC 1.1.0 with projection v2.0.0, so the CRS is given only as
``proj:code`` (no ``proj:epsg``); asset hrefs are relative to the archive root (``cogs/<id>/<key>.tif``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from ml4earth_stac.archive._bands import BANDS
from ml4earth_stac.archive._cog import COG_MEDIA_TYPE
from ml4earth_stac.archive._grid import SceneGrid, ring_xy, to_wgs84
from ml4earth_stac.archive._scene import CLOUD_SCL
from ml4earth_stac.archive._spec import COLLECTION_ID, EPSG, S2A_LAUNCH, S2B_LAUNCH, ScenePlan

STAC_EXTENSIONS: Final = [
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
    "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
]
PROJ_CODE: Final = f"EPSG:{EPSG}"  # Kronebreen's; every item carries the code of its own grid
LICENSE_LINK: Final = {
    "rel": "license",
    "href": "https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice",
}
# Relative to the item file (root/items/<id>.json); STAC 1.1 requires it when "collection" is set.
COLLECTION_LINK: Final = {"rel": "collection", "href": "../collection.json", "type": "application/json"}
# Non-spectral raster assets: key -> (gsd, title), as in PC items.
EXTRA_ASSETS: Final = {
    "AOT": (10, "Aerosol optical thickness (AOT)"),
    "SCL": (20, "Scene classfication map (SCL)"),  # sic, PC's spelling
    "WVP": (10, "Water vapour (WVP)"),
    "visual": (10, "True color image"),
}
ASSET_GSD: Final = {**{b.name: b.gsd for b in BANDS}, **{k: v[0] for k, v in EXTRA_ASSETS.items()}}


@dataclass(frozen=True)
class SceneStats:
    """SCL-derived scene statistics written into the item properties (percent of valid pixels)."""

    cloud_cover: float
    aoi_cloud_fraction: float
    percentages: dict[str, float]


def asset_href(item_id: str, key: str) -> str:
    """Href of an asset relative to the archive root."""
    return f"cogs/{item_id}/{key}.tif"


def footprint_uv(corner: int) -> list[tuple[float, float]]:
    """Valid-data footprint corners in scene fractions, counter-clockwise on the map."""
    corners = [(0.0, 1.0), (1.0, 1.0), (1.0, 0.0), (0.0, 0.0)]  # SW, SE, NE, NW
    if corner < 0:
        return corners
    cu, cv = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)][corner]
    cut = [(abs(cu - 0.38), cv), (cu, abs(cv - 0.38))]
    out: list[tuple[float, float]] = []
    for i, c in enumerate(corners):
        if c != (cu, cv):
            out.append(c)
            continue
        prev = corners[i - 1]
        cut.sort(key=lambda p: (p[0] - prev[0]) ** 2 + (p[1] - prev[1]) ** 2)
        out.extend(cut)
    return out


def _asset(grid: SceneGrid, item_id: str, key: str, title: str, bands: list[dict[str, Any]] | None):
    gsd = ASSET_GSD[key]
    asset: dict[str, Any] = {
        "href": asset_href(item_id, key),
        "proj:code": f"EPSG:{grid.epsg}",
        "proj:bbox": grid.bbox,
        "proj:shape": list(grid.shape(gsd)),
        "proj:transform": grid.transform(gsd),
        "gsd": float(gsd),
        "type": COG_MEDIA_TYPE,
        "roles": ["data"],
        "title": title,
    }
    if bands:
        asset["eo:bands"] = bands
    return asset


def item_assets(grid: SceneGrid, item_id: str) -> dict[str, Any]:
    """All raster assets of one item, keyed like PC (``B01`` .. ``B12``, ``B8A``, ``SCL``, ``visual`` ...)."""
    by_name = {b.name: b for b in BANDS}
    keys = sorted(ASSET_GSD, key=lambda k: (k == "visual", k))
    out = {}
    for key in keys:
        if key in by_name:
            out[key] = _asset(grid, item_id, key, by_name[key].title, [by_name[key].eo_band()])
        elif key == "visual":
            tci = [by_name[n].eo_band() for n in ("B04", "B03", "B02")]
            out[key] = _asset(grid, item_id, key, EXTRA_ASSETS[key][1], tci)
        else:
            out[key] = _asset(grid, item_id, key, EXTRA_ASSETS[key][1], None)
    return out


def _iso(t) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}000Z"


def _s2_ids(plan: ScenePlan) -> dict[str, str]:
    """granule/datatake/datastrip/product ids with the absolute orbit and baseline tokens PC uses."""
    launch = S2A_LAUNCH if plan.platform.endswith("A") else S2B_LAUNCH
    orbit = int((plan.sensing_time.date() - launch).days * 14.3) + 1
    m, b, tile = f"S2{plan.platform[-1]}", plan.processing_baseline, plan.mgrs_tile
    gen, sense = f"{plan.generation_time:%Y%m%dT%H%M%S}", f"{plan.sensing_time:%Y%m%dT%H%M%S}"
    return {
        "s2:granule_id": f"{m}_OPER_MSI_L2A_TL_ESRI_{gen}_A{orbit:06d}_T{tile}_N{b}",
        "s2:datatake_id": f"G{m}_{sense}_{orbit:06d}_N{b}",
        "s2:product_uri": (
            f"{m}_MSIL2A_{sense}_N{b.replace('.', '')}_R{plan.relative_orbit:03d}_T{tile}_{gen}.SAFE"
        ),
        "s2:datastrip_id": f"{m}_OPER_MSI_L2A_DS_ESRI_{gen}_S{sense}_N{b}",
    }


def reflectance_conversion_factor(plan: ScenePlan) -> float:
    """Sun-earth distance correction of the sensing day (``s2:reflectance_conversion_factor``)."""
    doy = plan.sensing_time.timetuple().tm_yday
    return 1.0 / (1.0 - 0.01672 * math.cos(2 * math.pi * (doy - 4) / 365.256)) ** 2


def item_properties(plan: ScenePlan, stats: SceneStats) -> dict[str, Any]:
    """PC-like item properties (``proj:code`` instead of ``proj:epsg``)."""
    rcf = reflectance_conversion_factor(plan)
    props: dict[str, Any] = {
        "datetime": _iso(plan.sensing_time),
        "platform": plan.platform,
        "proj:code": f"EPSG:{plan.epsg}",
        "instruments": ["msi"],
        "s2:mgrs_tile": plan.mgrs_tile,
        "constellation": "Sentinel 2",
        "eo:cloud_cover": round(stats.cloud_cover, 6),
        **_s2_ids(plan),
        "s2:product_type": "S2MSI2A",
        "sat:orbit_state": "descending",
        "s2:datatake_type": "INS-NOBS",
        "s2:generation_time": _iso(plan.generation_time),
        "sat:relative_orbit": plan.relative_orbit,
        "s2:mean_solar_zenith": round(plan.sun_zenith, 6),
        "s2:mean_solar_azimuth": round(plan.sun_azimuth, 6),
        "s2:processing_baseline": plan.processing_baseline,
        "s2:reflectance_conversion_factor": round(rcf, 9),
    }
    props.update({k: round(v, 6) for k, v in stats.percentages.items()})
    return props


def item_dict(plan: ScenePlan, grid: SceneGrid, stats: SceneStats) -> dict[str, Any]:
    """One PC-shaped STAC item of the archive.

    Args:
        plan: the acquisition plan.
        grid: the scene grid.
        stats: SCL statistics of the synthesized scene.

    Returns:
        The item as a JSON-ready dict (no self/parent/root links; the server adds them).
    """
    ring = to_wgs84(ring_xy(grid, footprint_uv(plan.nodata_corner), per_edge=4), grid.epsg)
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": list(STAC_EXTENSIONS),
        "id": plan.item_id,
        "collection": COLLECTION_ID,
        "bbox": [min(lons), min(lats), max(lons), max(lats)],
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "links": [dict(COLLECTION_LINK), dict(LICENSE_LINK)],
        "properties": item_properties(plan, stats),
        "assets": item_assets(grid, plan.item_id),
    }


def collection_dict(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The PC-shaped ``sentinel-2-l2a`` collection whose extent covers ``items`` (no item links).

    Args:
        items: the archive items (at least one).

    Returns:
        The collection as a JSON-ready dict.
    """
    template = item_assets(SceneGrid(0.0, 0.0, 6), "x")
    assets = {
        k: {f: v for f, v in a.items() if f in ("title", "type", "roles", "gsd", "eo:bands")}
        for k, a in template.items()
    }
    return {
        "type": "Collection",
        "stac_version": "1.1.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/item-assets/v1.0.0/schema.json",
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
        ],
        "id": COLLECTION_ID,
        "title": "Sentinel-2 Level-2A",
        "description": (
            "Synthetic sample of the Planetary Computer Sentinel-2 L2A collection: seeded scenes of the "
            "Kronebreen tidewater glacier (Kongsfjorden, Svalbard) with known truth, for demos and tests. "
            "Not real data."
        ),
        "license": "proprietary",
        "keywords": ["Sentinel", "Copernicus", "ESA", "Satellite", "Imagery", "Reflectance", "Synthetic"],
        "providers": [
            {
                "name": "ESA",
                "roles": ["producer", "licensor"],
                "url": "https://sentinel.esa.int/web/sentinel/missions/sentinel-2",
            },
            {"name": "ml4earth-stac sample archive", "roles": ["processor", "host"]},
        ],
        "extent": collection_extent(items),
        "summaries": {
            "gsd": [10, 20, 60],
            "eo:bands": [b.eo_band() for b in BANDS],
            "platform": sorted({it["properties"]["platform"] for it in items}),
            "instruments": ["msi"],
            "constellation": ["Sentinel 2"],
        },
        "item_assets": assets,
        "links": [dict(LICENSE_LINK)],
    }


def collection_extent(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The spatial and temporal ``extent`` of a collection holding ``items`` (at least one)."""
    bboxes = [it["bbox"] for it in items]
    times = sorted(it["properties"]["datetime"] for it in items)
    box = [
        min(b[0] for b in bboxes),
        min(b[1] for b in bboxes),
        max(b[2] for b in bboxes),
        max(b[3] for b in bboxes),
    ]
    return {"spatial": {"bbox": [box]}, "temporal": {"interval": [[times[0], times[-1]]]}}


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


def scl_scene_stats(scl20: np.ndarray, aoi_cloud_fraction: float) -> SceneStats:
    """The cloud cover and ``s2:*_percentage`` properties of a scene from its 20 m SCL (0 = nodata).

    Args:
        scl20: the scene's SCL at 20 m.
        aoi_cloud_fraction: the cloudy share of the AOI (recorded in the manifest, not in the item).
    """
    valid = scl20 > 0
    n_valid = max(int(valid.sum()), 1)
    counts = np.bincount(scl20.ravel(), minlength=12)
    pct = {k: 100.0 * sum(int(counts[c]) for c in cs) / n_valid for k, cs in SCL_PERCENTAGES.items()}
    pct["s2:nodata_pixel_percentage"] = 100.0 * float((~valid).mean())
    pct["s2:degraded_msi_data_percentage"] = 0.0
    cloud = 100.0 * sum(int(counts[c]) for c in CLOUD_SCL) / n_valid
    return SceneStats(cloud_cover=cloud, aoi_cloud_fraction=aoi_cloud_fraction, percentages=pct)
