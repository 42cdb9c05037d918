"""Write one city site of the sample archive: Sentinel-2 L2A and Sentinel-1 RTC scenes plus canopy truth.

Files (same layout as the glacier scenes):

- ``cogs/<S2 item id>/<key>.tif`` (B01..B12, B8A, AOT, SCL, WVP, visual) and ``items/<S2 item id>.json``
  (PC ``sentinel-2-l2a`` shape, ``proj:code`` of the city's southern or northern UTM zone);
- ``cogs/<S1 item id>/measurement/iw-{vv,vh}.rtc.tiff`` and ``sentinel-1-rtc/items/<S1 item id>.json``;
- ``truth/canopy/<city>.geojson``: the canopy polygons in WGS84 (no ``crs`` member), one feature each;
  ``truth/canopy/<city>.parquet``: the same in the city's UTM CRS as GeoParquet (only if geopandas is
  installed); ``truth/classes/<city>.tif``: the 10 m class map (0 nodata, 1 built, 2 road, 3 grass, 4 tree,
  5 water, 6 bare soil); ``truth/canopy_fraction/<city>.tif``: canopy percent per 10 m pixel (255 nodata).

Collections are not written here: the caller merges the returned item dicts into the archive collections.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import shapely
from pyproj import Transformer

from ml4earth_stac.archive import _urban as U
from ml4earth_stac.archive._bands import BANDS, encode_reflectance, encode_tci
from ml4earth_stac.archive._canopy import plant_canopy
from ml4earth_stac.archive._cities import CITIES, M_TREE, CitySite, city_grid, make_layout
from ml4earth_stac.archive._city_dates import CityDate, plan_city_dates
from ml4earth_stac.archive._cog import write_cog
from ml4earth_stac.archive._extras import extra_item_path, write_json
from ml4earth_stac.archive._grid import SceneGrid, polygon_wgs84
from ml4earth_stac.archive._items import asset_href, item_dict, scl_scene_stats
from ml4earth_stac.archive._noise import smooth_2d
from ml4earth_stac.archive._scene import CLOUD_SCL
from ml4earth_stac.archive._sentinel1 import NODATA, s1_href, s1_item_dict
from ml4earth_stac.archive._spec import COLLECTION_ID, S1_COLLECTION_ID, SENSORS
from ml4earth_stac.errors import ArchiveError

CITY_SENSORS: Final = ("sentinel-2", "sentinel-1")  # other archive sensors are skipped for cities
AOI_BOX: Final = (0.1, 0.1, 0.9, 0.9)  # AOI: the middle 80 % of the scene (u, v fractions)
FRACTION_NODATA: Final = 255


@dataclass(frozen=True)
class CitySiteResult:
    """What :func:`write_city_site` wrote for one city.

    Attributes:
        city: the city key (``curitiba``); name: its name; epsg: EPSG code of its scenes (UTM zone).
        mgrs_tile: the Sentinel-2 tile of its scenes.
        aoi_geometry_wgs84: GeoJSON Polygon of the AOI (middle 80 % of the scene).
        scene_bbox_utm: [xmin, ymin, xmax, ymax] of the scene in ``epsg``.
        items: item dicts per collection id (``sentinel-2-l2a``, ``sentinel-1-rtc`` when written), by date.
        canopy_geojson, canopy_parquet, classes, canopy_fraction_tif: truth files (parquet None without
            geopandas).
        canopy_fraction: share of the scene under canopy (polygon area / scene area).
    """

    city: str
    name: str
    epsg: int
    mgrs_tile: str
    aoi_geometry_wgs84: dict[str, Any]
    scene_bbox_utm: tuple[float, float, float, float]
    items: dict[str, tuple[dict[str, Any], ...]]
    canopy_geojson: Path
    canopy_parquet: Path | None
    classes: Path
    canopy_fraction_tif: Path
    canopy_fraction: float


def _check(city_key: str, n_dates: int, scene_size_px: int, sensors: tuple[str, ...]) -> CitySite:
    problems = []
    if city_key not in CITIES:
        problems.append(f"city {city_key!r} is not one of {sorted(CITIES)}")
    if n_dates < 1:
        problems.append(f"n_dates={n_dates} must be >= 1")
    if scene_size_px < 120 or scene_size_px % 6 or scene_size_px > 10980:
        problems.append(f"scene_size_px={scene_size_px} must be a multiple of 6 in 120..10980")
    unknown = [s for s in sensors if s not in SENSORS]
    if unknown or not set(sensors) & set(CITY_SENSORS):
        problems.append(
            f"sensors={sensors!r} must name some of {CITY_SENSORS} (others of {SENSORS} are skipped)"
        )
    if problems:
        raise ArchiveError(
            "invalid city site: " + "; ".join(problems) + ". Fix the write_city_site arguments."
        )
    return CITIES[city_key]


def _aoi_slices(n: int) -> tuple[slice, slice]:
    u0, v0, u1, v1 = AOI_BOX
    return slice(int(v0 * n), int(v1 * n)), slice(int(u0 * n), int(u1 * n))


def _write_atmosphere(folder: Path, grid: SceneGrid, date: CityDate, seed: int) -> None:
    """AOT (x 0.001) and WVP (x 0.001 cm), uint16 at 10 m as PC serves them, nodata 0."""
    rng = np.random.default_rng([seed, 64, date.s2.index])
    n = grid.size_px
    for key, mean, amp in (("AOT", 0.08 + 0.1 * rng.random(), 0.02), ("WVP", 1.5 + 2.0 * rng.random(), 0.2)):
        value = mean + amp * smooth_2d(rng, n, [2, 5], [1.0, 0.5])
        dn = np.clip(np.rint(value * 1000.0), 1, 65534).astype(np.uint16)
        write_cog(folder / f"{key}.tif", dn, grid.transform(10), grid.epsg, 0, "average")


def _write_s2(root: Path, grid: SceneGrid, px: U.CityPixels, date: CityDate, seed: int) -> dict[str, Any]:
    """Synthesize and write one Sentinel-2 L2A scene and its PC-shaped item; returns the item."""
    plan = date.s2
    folder = root / Path(asset_href(plan.item_id, "x")).parent
    spectra, sky = U.date_spectra(date), U.sky(grid.size_px, plan, seed)
    tci = {}
    for i, band in enumerate(BANDS):
        rho = U.band_reflectance(px, spectra, sky, i, np.random.default_rng([seed, 63, plan.index, i]))
        dn = encode_reflectance(rho, np.ones(rho.shape, bool), plan.processing_baseline)
        write_cog(folder / f"{band.name}.tif", dn, grid.transform(band.gsd), grid.epsg, 0, "average")
        if band.name in ("B04", "B03", "B02"):
            tci[band.name] = encode_tci(rho, np.ones(rho.shape, bool))
    visual = np.stack([tci["B04"], tci["B03"], tci["B02"]])
    write_cog(folder / "visual.tif", visual, grid.transform(10), grid.epsg, 0, "average")
    _write_atmosphere(folder, grid, date, seed)
    scl20 = U.scl(px, spectra, sky)
    write_cog(folder / "SCL.tif", scl20, grid.transform(20), grid.epsg, 0, "nearest")
    aoi_cloud = float(np.isin(scl20[_aoi_slices(scl20.shape[0])], CLOUD_SCL).mean())
    item = item_dict(plan, grid, scl_scene_stats(scl20, aoi_cloud))
    item["properties"]["proj:code"] = f"EPSG:{grid.epsg}"  # ScenePlan.epsg assumes a northern zone
    write_json(root / "items" / f"{plan.item_id}.json", item)
    return item


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _write_s1(root: Path, grid: SceneGrid, px: U.CityPixels, date: CityDate, seed: int) -> dict[str, Any]:
    """Synthesize and write one Sentinel-1 RTC scene and its PC-shaped item; returns the item."""
    files = {}
    for key, data in U.gamma0(px, date, seed).items():
        path = root / s1_href(date.s1, key)
        write_cog(path, data, grid.transform(10), grid.epsg, NODATA, "average")
        files[key] = (path.stat().st_size, _md5(path))
    item = s1_item_dict(date.s1, grid, files)
    write_json(extra_item_path(root, S1_COLLECTION_ID, date.s1.item_id), item)
    return item


def _canopy_geojson(city: CitySite, canopy: np.ndarray, epsg: int) -> str:
    """The canopy polygons as a WGS84 GeoJSON FeatureCollection (coordinates to 1e-7 degree)."""
    to_wgs84 = Transformer.from_crs(epsg, 4326, always_xy=True)

    def project(xy: np.ndarray) -> np.ndarray:
        lon, lat = to_wgs84.transform(xy[:, 0], xy[:, 1])
        return np.round(np.column_stack([lon, lat]), 7)

    geoms = shapely.to_geojson(shapely.transform(canopy, project))
    areas = np.round(shapely.area(canopy), 2)
    features = []
    for i, (area, geom) in enumerate(zip(areas.tolist(), geoms.tolist(), strict=True)):
        props = json.dumps({"city": city.key, "area_m2": area})
        features.append(f'{{"type": "Feature", "id": {i}, "properties": {props}, "geometry": {geom}}}')
    header = json.dumps({"type": "FeatureCollection", "name": f"{city.name} tree canopy"})[:-1]
    return header + ', "features": [\n' + ",\n".join(features) + "\n]}\n"


def _write_parquet(path: Path, city: CitySite, canopy: np.ndarray, epsg: int) -> Path | None:
    try:
        import geopandas  # noqa: PLC0415 - optional dependency, imported lazily
    except ImportError:
        return None
    frame = geopandas.GeoDataFrame(
        {"city": [city.key] * canopy.size, "area_m2": shapely.area(canopy)}, geometry=list(canopy), crs=epsg
    )
    frame.to_parquet(path)
    return path


def _write_truth(root: Path, city: CitySite, grid: SceneGrid, px: U.CityPixels, canopy: np.ndarray):
    """Canopy polygons (GeoJSON, GeoParquet), class map and canopy fraction COGs; returns their paths."""
    geojson = root / "truth" / "canopy" / f"{city.key}.geojson"
    geojson.parent.mkdir(parents=True, exist_ok=True)
    geojson.write_text(_canopy_geojson(city, canopy, grid.epsg))
    parquet = _write_parquet(geojson.with_suffix(".parquet"), city, canopy, grid.epsg)
    classes = root / "truth" / "classes" / f"{city.key}.tif"
    write_cog(classes, px.classes, grid.transform(10), grid.epsg, 0, "nearest")
    fraction = root / "truth" / "canopy_fraction" / f"{city.key}.tif"
    percent = np.rint(px.counts[M_TREE] * (100.0 / U.SUB_CELLS)).astype(np.uint8)
    write_cog(fraction, percent, grid.transform(10), grid.epsg, FRACTION_NODATA, "average")
    return geojson, parquet, classes, fraction


def write_city_site(
    root: Path,
    city_key: str,
    *,
    seed: int = 0,
    n_dates: int = 3,
    scene_size_px: int = 600,
    sensors: tuple[str, ...] = CITY_SENSORS,
) -> CitySiteResult:
    """Synthesize and write the scenes and canopy truth of one city; equal arguments give equal bytes.

    Args:
        root: archive folder.
        city_key: ``curitiba``, ``medellin`` or ``santiago``.
        seed: archive seed (mixed with the city).
        n_dates: acquisitions (one Sentinel-2 and one Sentinel-1 item each).
        scene_size_px: 10 m pixels per scene side, a multiple of 6.
        sensors: ``sentinel-2`` and/or ``sentinel-1``; other archive sensors (landsat, aster) are skipped.

    Returns:
        Items per collection, AOI, EPSG and truth paths.

    Raises:
        ArchiveError: on invalid arguments or when a file cannot be written.
    """
    city = _check(city_key, n_dates, scene_size_px, tuple(sensors))
    root = Path(root)
    grid = city_grid(city, scene_size_px)
    site_seed = city.synth_seed(seed)
    layout = make_layout(city, grid, site_seed)
    canopy = plant_canopy(layout)
    px = U.city_pixels(layout, canopy)
    items: dict[str, list[dict[str, Any]]] = {COLLECTION_ID: [], S1_COLLECTION_ID: []}
    for date in plan_city_dates(city, site_seed, n_dates):
        if "sentinel-2" in sensors:
            items[COLLECTION_ID].append(_write_s2(root, grid, px, date, site_seed))
        if "sentinel-1" in sensors:
            items[S1_COLLECTION_ID].append(_write_s1(root, grid, px, date, site_seed))
    try:
        truth = _write_truth(root, city, grid, px, canopy)
    except OSError as exc:
        raise ArchiveError(f"cannot write the truth of {city.key} under {root}: {exc}") from exc
    u0, v0, u1, v1 = AOI_BOX
    return CitySiteResult(
        city.key,
        city.name,
        city.epsg,
        city.mgrs_tile,
        polygon_wgs84(grid, [(u0, v1), (u1, v1), (u1, v0), (u0, v0)]),
        tuple(grid.bbox),
        {cid: tuple(its) for cid, its in items.items() if its},
        *truth,
        float(shapely.area(canopy).sum() / grid.size_m**2),
    )
