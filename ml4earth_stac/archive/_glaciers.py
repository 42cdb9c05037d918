"""The glaciers of the sample archive: where they lie, their scenes' UTM zone, how their fronts move.

Kronebreen (Kongsfjorden, west coast of Spitsbergen) flows west into its fjord; its scenes are crops of MGRS
tile 33XVH in EPSG:32633. Negribreen (east coast, calving into Storfjorden; front near 78.62 N 18.85 E) flows
east into the sea and lies in UTM zone 34N, so its scenes are crops of tile 34XDN in EPSG:32634, like real
tiles there (the 100 km square lettering of zone 34; MGRS's own Svalbard exception would call it 33X, the
Sentinel-2 tiling grid and Landsat do not apply it). Negribreen surged in 2016-2017: its front advances by up
to a few km until 2018 and retreats again afterwards.

Every glacier's scene is synthesized in a "flow frame" with the sea west of the front (as Kronebreen); a
glacier whose sea lies east (``sea_east``) gets its surface mirrored west-east before it is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Final

import numpy as np

from ml4earth_stac.archive._spec import (
    AOI_NAME,
    EPSG,
    FRONT_ANCHOR_UTM,
    FRONT_U0,
    GLACIER_NAME,
    MGRS_TILE,
    PIXEL_M,
    TILE_ORIGIN,
    ArchiveSpec,
    ScenePlan,
    _cloud_targets,
    sun_angles,
)

# Negribreen surge: the front is furthest out at SURGE_PEAK (decimal years), SURGE_ADVANCE_M seaward of its
# pre-surge position (at most SURGE_MAX_FRACTION of the scene side), then retreats at a drawn rate.
SURGE_ONSET: Final = 2016.5
SURGE_PEAK: Final = 2018.0
SURGE_ADVANCE_M: Final = 2800.0
SURGE_MAX_FRACTION: Final = 0.15
POST_SURGE_RETREAT_M_PER_YEAR: Final = (150.0, 350.0)
# Flow-frame front positions stay inside the AOI (u 0.25 .. 0.75) with margin.
FRONT_U_LIMITS: Final = (0.30, 0.70)


@dataclass(frozen=True)
class GlacierSite:
    """Fixed geography of one glacier of the archive.

    Attributes:
        name: AOI name (``kronebreen``), also the value of ``ArchiveSpec.glaciers``.
        title: glacier name (``Kronebreen``), the ``glacier`` property of its truth fronts.
        epsg: EPSG code of its scenes (the UTM zone of its tile).
        mgrs_tile: Sentinel-2 tile id.
        tile_origin: upper-left corner of the 109.8 km tile in ``epsg``.
        front_anchor_utm: the first-date front position (centre of the front) in ``epsg``.
        lon_lat: longitude and latitude of the front (for sun angles).
        sea_east: the sea lies east of the front (the glacier flows west -> east).
        wrs_paths: Landsat WRS-2 paths of its scenes (disjoint between glaciers, so item ids never collide).
        wrs_row: Landsat WRS-2 row.
        key: 0 for Kronebreen (whose random streams are those of the single-glacier archive), else > 0.
    """

    name: str
    title: str
    epsg: int
    mgrs_tile: str
    tile_origin: tuple[float, float]
    front_anchor_utm: tuple[float, float]
    lon_lat: tuple[float, float]
    sea_east: bool
    wrs_paths: tuple[int, ...]
    wrs_row: int
    key: int

    def synth_seed(self, seed: int) -> int:
        """The seed of everything synthesized for this glacier (the archive seed for Kronebreen)."""
        if self.key == 0:
            return seed
        return int(np.random.SeedSequence([seed, 0x6E6567, self.key]).generate_state(1)[0])

    def map_u(self, flow_u: float | np.ndarray) -> float | np.ndarray:
        """Flow-frame u (sea at low u) to map-frame u (0 west .. 1 east)."""
        return 1.0 - flow_u if self.sea_east else flow_u


KRONEBREEN: Final = GlacierSite(
    name=AOI_NAME,
    title=GLACIER_NAME,
    epsg=EPSG,
    mgrs_tile=MGRS_TILE,
    tile_origin=TILE_ORIGIN,
    front_anchor_utm=FRONT_ANCHOR_UTM,
    lon_lat=(12.45, 78.9),
    sea_east=False,
    wrs_paths=(208, 210, 212, 214, 216),
    wrs_row=4,
    key=0,
)
# Front of Negribreen, 78.62 N 18.85 E, in EPSG:32634 (452651.7, 8728434.4); tile 34XDN (same 100 km square
# position as 33XVH: columns 400-500 km, rows 8700-8800 km).
NEGRIBREEN: Final = GlacierSite(
    name="negribreen",
    title="Negribreen",
    epsg=32634,
    mgrs_tile="34XDN",
    tile_origin=(399960.0, 8800020.0),
    front_anchor_utm=(452652.0, 8728434.0),
    lon_lat=(18.85, 78.62),
    sea_east=True,
    wrs_paths=(205, 207, 209, 211, 213),
    wrs_row=4,
    key=1,
)
SITES: Final = {site.name: site for site in (KRONEBREEN, NEGRIBREEN)}


def sites_of(spec: ArchiveSpec) -> tuple[GlacierSite, ...]:
    """The glaciers of a spec, in ``spec.glaciers`` order."""
    return tuple(SITES[name] for name in spec.glaciers)


def _decimal_year(t: dt.datetime) -> float:
    return t.year + (t.timetuple().tm_yday - 1) / 365.25


def surge_position_m(year: float, advance_m: float, retreat_m_per_year: float) -> float:
    """Negribreen's front, metres seaward of its pre-surge position, at a decimal year."""
    s = float(np.clip((year - SURGE_ONSET) / (SURGE_PEAK - SURGE_ONSET), 0.0, 1.0))
    return advance_m * s * s * (3.0 - 2.0 * s) - retreat_m_per_year * max(0.0, year - SURGE_PEAK)


def site_plans(spec: ArchiveSpec, site: GlacierSite, plans: tuple[ScenePlan, ...]) -> tuple[ScenePlan, ...]:
    """The plans of one glacier: Kronebreen's are ``plans``; another glacier sees the same overpasses.

    Same sensing and generation time, platform, orbit and baseline (one datatake), its own tile, clouds
    (again one clear and one overcast scene), swath-edge corner, snow, sun angles and front (the surge).

    Args:
        spec: the archive spec.
        site: the glacier.
        plans: Kronebreen's plans (:func:`plan_scenes`).

    Returns:
        One plan per date, in the order of ``plans``.
    """
    if site.key == 0:
        return plans
    rng = np.random.default_rng([spec.seed, 2, 100 + site.key])
    clouds = _cloud_targets(spec, rng)
    scene_m = spec.scene_size_px * PIXEL_M
    advance = min(SURGE_ADVANCE_M, SURGE_MAX_FRACTION * scene_m)
    rate = float(rng.uniform(*POST_SURGE_RETREAT_M_PER_YEAR))
    start = surge_position_m(_decimal_year(plans[0].sensing_time), advance, rate)
    lon, lat = site.lon_lat
    out = []
    for plan, (cloud, cirrus, overcast) in zip(plans, clouds, strict=True):
        shift = start - surge_position_m(_decimal_year(plan.sensing_time), advance, rate)
        shift += float(rng.normal(0.0, 25.0)) * (plan.index > 0)
        front_u = float(np.clip(FRONT_U0 + shift / scene_m, *FRONT_U_LIMITS))
        zenith, azimuth = sun_angles(plan.sensing_time, lat, lon)
        corner = int(rng.integers(0, 4)) if rng.random() < spec.nodata_corner_probability else -1
        out.append(
            replace(
                plan,
                mgrs_tile=site.mgrs_tile,
                cloud_target=cloud,
                cirrus_target=cirrus,
                overcast=overcast,
                front_u=front_u,
                front_retreat_m=(front_u - FRONT_U0) * scene_m,
                snowline_u=float(rng.uniform(0.72, 0.95)),
                rock_snow_fraction=float(rng.uniform(0.08, 0.35)),
                nodata_corner=corner,
                sun_zenith=zenith,
                sun_azimuth=azimuth,
            )
        )
    return tuple(out)
