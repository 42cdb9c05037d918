"""Sentinel-1 RTC scenes (PC ``sentinel-1-rtc``) showing the surface truth of the Sentinel-2 dates.

One IW acquisition per Sentinel-2 date, the same day, on the 10 m scene grid (EPSG:32633 for Kronebreen; a
second glacier gets the next slice of the same datatake, on its own grid and zone): ``vv`` and ``vh``
are LINEAR terrain-flattened gamma0, float32, nodata -32768 outside the swath (a slanted strip along the west
or east edge), per-surface backscatter of SENSORS.md 3.3 (summer: wet snow darker than bare ice), wind-
roughened open water, bright iceberg targets, gamma-distributed multiplicative speckle of 4.4 looks and no
clouds. Items follow the PC shape: STAC 1.0.0, ``proj:epsg`` and a 9-coefficient ``proj:transform``,
``file:size``/``file:checksum`` (MD5 hex as PC writes it) on the assets.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np

from ml4earth_stac.archive import _bands as B
from ml4earth_stac.archive import _scene as S
from ml4earth_stac.archive._cog import COG_MEDIA_TYPE
from ml4earth_stac.archive._grid import SceneGrid, ring_xy, to_wgs84
from ml4earth_stac.archive._items import collection_extent
from ml4earth_stac.archive._noise import blocky_uniform, smooth_2d
from ml4earth_stac.archive._spec import EPSG, S1_COLLECTION_ID, ArchiveSpec, ScenePlan

NODATA: Final = -32768.0
LOOKS: Final = 4.4
POLARIZATIONS: Final = ("vv", "vh")
S1A_LAUNCH: Final = dt.date(2014, 4, 3)
S1B_LAUNCH: Final = dt.date(2016, 4, 25)
S1B_OPERATIONAL: Final = (dt.date(2016, 9, 26), dt.date(2021, 12, 22))
ORBITS_PER_CYCLE: Final = 175
CYCLE_DAYS: Final = 12
# gamma0 in dB (VV, VH) per synthesis class: nodata, rock, snow on rock (wet), bare ice, dirty ice,
# firn / wet snow on glacier, calm sea, icebergs / melange.
BACKSCATTER_DB: Final = np.array(
    [[-30, -30], [-9, -16.5], [-14, -22], [-7, -14.5], [-6.5, -14], [-11, -19], [-21, -27], [-4.5, -11.5]],
    dtype=np.float32,
)
WIND_DB: Final = (3.5, 1.5)  # std of the wind-driven sea backscatter (VV, VH)
SEA_RANGE_DB: Final = ((-26.0, -12.0), (-30.0, -21.0))
BERG_TARGET_DB: Final = 6.0
SLICE_STEP_S: Final = 23  # slices of 25 s overlap by about 2 s
SWATH_EDGE: Final = (0.04, 0.08)  # nodata strip width at the top, widening per unit v
S1_EXTENSIONS: Final = [
    "https://stac-extensions.github.io/sar/v1.0.0/schema.json",
    "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "https://stac-extensions.github.io/file/v2.0.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
]
POL_NAMES: Final = {"vv": ("VV", "vertical", "vertical"), "vh": ("VH", "vertical", "horizontal")}
COLLECTION_LINK: Final = {"rel": "collection", "href": "../collection.json", "type": "application/json"}
LICENSE_LINK: Final = {
    "rel": "license",
    "href": "https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice",
}


@dataclass(frozen=True)
class S1Plan:
    """One Sentinel-1 IW acquisition and the Sentinel-2 date whose truth it shows."""

    index: int
    start_time: dt.datetime
    platform: str  # SENTINEL-1A / SENTINEL-1B
    orbit_state: str
    absolute_orbit: int
    datatake_id: int
    truth_item_id: str
    slice_number: int = 3

    @property
    def end_time(self) -> dt.datetime:
        """End of the slice (25 s after the start)."""
        return self.start_time + dt.timedelta(seconds=25)

    @property
    def relative_orbit(self) -> int:
        """``sat:relative_orbit`` from the absolute orbit (offset 73 for S1A, 27 for S1B)."""
        return (self.absolute_orbit - (73 if self.platform.endswith("A") else 27)) % ORBITS_PER_CYCLE + 1

    @property
    def item_id(self) -> str:
        """PC id, e.g. ``S1A_IW_GRDH_1SDV_20220912T063012_20220912T063037_045012_05614A_rtc``."""
        return (
            f"S1{self.platform[-1]}_IW_GRDH_1SDV_{self.start_time:%Y%m%dT%H%M%S}_{self.end_time:%Y%m%dT%H%M%S}"
            f"_{self.absolute_orbit:06d}_{self.datatake_id:06X}_rtc"
        )


def plan_s1(spec: ArchiveSpec, plans: tuple[ScenePlan, ...]) -> tuple[S1Plan, ...]:
    """One Sentinel-1 acquisition per Sentinel-2 date (morning descending or evening ascending pass).

    Args:
        spec: the archive spec (seed).
        plans: the Sentinel-2 plans.

    Returns:
        Sentinel-1 plans in the same order.
    """
    rng = np.random.default_rng([spec.seed, 20])
    out = []
    for plan in plans:
        descending = bool(rng.random() < 0.5)
        hour = 6 if descending else 16
        day = dt.datetime.combine(plan.sensing_time.date(), dt.time())
        start = day + dt.timedelta(hours=hour, seconds=int(rng.integers(0, 3600)))
        lo, hi = S1B_OPERATIONAL
        use_b = lo <= start.date() <= hi and rng.random() < 0.5
        launch = S1B_LAUNCH if use_b else S1A_LAUNCH
        orbit = int((start - dt.datetime.combine(launch, dt.time())).total_seconds() / 86400 * 175 / 12) + 1
        out.append(
            S1Plan(
                index=plan.index,
                start_time=start,
                platform="SENTINEL-1B" if use_b else "SENTINEL-1A",
                orbit_state="descending" if descending else "ascending",
                absolute_orbit=orbit,
                datatake_id=int(rng.integers(0x10000, 0xFFFFF)),
                truth_item_id=plan.item_id,
            )
        )
    return tuple(out)


def next_slice_plans(base: tuple[S1Plan, ...], truth: tuple[ScenePlan, ...]) -> tuple[S1Plan, ...]:
    """The next slice of each datatake of ``base`` (another glacier of the same pass), showing ``truth``.

    Args:
        base: Kronebreen's Sentinel-1 plans.
        truth: the other glacier's Sentinel-2 plans, same dates in the same order.

    Returns:
        Plans starting ``SLICE_STEP_S`` later, slice number + 1, same platform, orbit and datatake.
    """
    return tuple(
        replace(
            p,
            start_time=p.start_time + dt.timedelta(seconds=SLICE_STEP_S),
            slice_number=p.slice_number + 1,
            truth_item_id=t.item_id,
        )
        for p, t in zip(base, truth, strict=True)
    )


def swath_corners_uv(plan: S1Plan) -> list[tuple[float, float]]:
    """Valid footprint in scene fractions (counter-clockwise): a slanted strip is cut off west or east."""
    a, b = SWATH_EDGE
    if plan.orbit_state == "descending":
        return [(a + b, 1.0), (1.0, 1.0), (1.0, 0.0), (a, 0.0)]
    return [(0.0, 1.0), (1.0 - a - b, 1.0), (1.0 - a, 0.0), (0.0, 0.0)]


def swath_mask(n: int, plan: S1Plan) -> np.ndarray:
    """True inside the swath (pixel centres)."""
    c = (np.arange(n, dtype=np.float32) + 0.5) / n
    u, v = c[None, :], c[:, None]
    a, b = SWATH_EDGE
    if plan.orbit_state == "descending":
        return np.broadcast_to(u >= a + b * v, (n, n)).copy()
    return np.broadcast_to(u <= 1.0 - a - b * v, (n, n)).copy()


def _db(layers: S.SceneLayers, pol: int, wind: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Noise-free gamma0 in dB of one polarization."""
    db = BACKSCATTER_DB[layers.cls, pol] + 0.8 * layers.texture
    lo, hi = SEA_RANGE_DB[pol]
    sea = layers.cls == B.WATER
    db[sea] = np.clip(BACKSCATTER_DB[B.WATER, pol] + WIND_DB[pol] * wind[sea], lo, hi)
    db[targets & (layers.cls == B.BERG)] += BERG_TARGET_DB
    return db


def gamma0(layers: S.SceneLayers, plan: S1Plan, seed: int) -> dict[str, np.ndarray]:
    """Linear gamma0 of ``vv`` and ``vh`` with speckle, float32, -32768 outside the swath.

    Args:
        layers: the date's 10 m layers (whole scene valid; clouds are ignored).
        plan: the Sentinel-1 plan.
        seed: archive seed.

    Returns:
        ``{"vv": array, "vh": array}``.
    """
    rng = np.random.default_rng([seed, 21, plan.index])
    n = layers.cls.shape[0]
    wind = smooth_2d(rng, n, [3, 8], [1.0, 0.5])
    targets = blocky_uniform(rng, n, 2) > 0.85
    inside = swath_mask(n, plan)
    out = {}
    for pol, key in enumerate(POLARIZATIONS):
        speckle = rng.gamma(LOOKS, 1.0 / LOOKS, size=(n, n)).astype(np.float32)
        linear = np.power(np.float32(10.0), _db(layers, pol, wind, targets) / np.float32(10.0)) * speckle
        linear[~inside] = NODATA
        out[key] = linear.astype(np.float32)
    return out


def s1_properties(
    plan: S1Plan, transform: list[float], shape: list[int], bbox: list[float], epsg: int = EPSG
) -> dict[str, Any]:
    """PC ``sentinel-1-rtc`` item properties."""
    designator = "2016-025A" if plan.platform.endswith("B") else "2014-016A"
    return {
        "datetime": plan.start_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "platform": plan.platform,
        "s1:shape": [shape[1], shape[0]],
        "proj:bbox": bbox,
        "proj:epsg": epsg,
        "proj:shape": shape,
        "end_datetime": plan.end_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "constellation": "Sentinel-1",
        "s1:resolution": "high",
        "proj:transform": [*transform, 0.0, 0.0, 1.0],
        "s1:datatake_id": str(plan.datatake_id),
        "start_datetime": plan.start_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "s1:orbit_source": "RESORB",
        "s1:slice_number": str(plan.slice_number),
        "s1:total_slices": "5",
        "sar:looks_range": 5,
        "sat:orbit_state": plan.orbit_state,
        "sar:product_type": "GRD",
        "sar:looks_azimuth": 1,
        "sar:polarizations": ["VV", "VH"],
        "sar:frequency_band": "C",
        "sat:absolute_orbit": plan.absolute_orbit,
        "sat:relative_orbit": plan.relative_orbit,
        "s1:processing_level": "1",
        "sar:instrument_mode": "IW",
        "sar:center_frequency": 5.405,
        "sar:resolution_range": 20,
        "s1:product_timeliness": "Fast-24h",
        "sar:resolution_azimuth": 22,
        "sar:pixel_spacing_range": 10,
        "sar:observation_direction": "right",
        "sar:pixel_spacing_azimuth": 10,
        "sar:looks_equivalent_number": LOOKS,
        "s1:instrument_configuration_ID": "7",
        "sat:platform_international_designator": designator,
    }


def s1_href(plan: S1Plan, key: str) -> str:
    """Href (relative to the archive root) of a polarization: ``cogs/<id>/measurement/iw-vv.rtc.tiff``."""
    return f"cogs/{plan.item_id}/measurement/iw-{key}.rtc.tiff"


def _pol_asset(key: str) -> dict[str, Any]:
    label, tx, rx = POL_NAMES[key]
    return {
        "type": COG_MEDIA_TYPE,
        "roles": ["data"],
        "title": f"{label}: {tx} transmit, {rx} receive",
        "description": (
            f"Terrain-corrected gamma naught values of signal transmitted with {tx} polarization and "
            f"received with {rx} polarization with radiometric terrain correction applied."
        ),
        "raster:bands": [{"nodata": NODATA, "data_type": "float32", "spatial_resolution": 10.0}],
    }


def s1_item_dict(plan: S1Plan, grid: SceneGrid, files: dict[str, tuple[int, str]]) -> dict[str, Any]:
    """One PC-shaped ``sentinel-1-rtc`` item (no self/parent/root links; the server adds them).

    Args:
        plan: the Sentinel-1 plan.
        grid: the scene grid (10 m).
        files: ``{"vv": (size in bytes, md5 hex), "vh": ...}`` of the written COGs.

    Returns:
        The item as a JSON-ready dict.
    """
    ring = to_wgs84(ring_xy(grid, swath_corners_uv(plan), per_edge=4), grid.epsg)
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    assets = {
        key: {"href": s1_href(plan, key), "file:size": size, "file:checksum": md5, **_pol_asset(key)}
        for key, (size, md5) in files.items()
    }
    return {
        "id": plan.item_id,
        "bbox": [min(lons), min(lats), max(lons), max(lats)],
        "type": "Feature",
        "links": [dict(COLLECTION_LINK), dict(LICENSE_LINK)],
        "assets": assets,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "collection": S1_COLLECTION_ID,
        "properties": s1_properties(plan, grid.transform(10), list(grid.shape(10)), grid.bbox, grid.epsg),
        "stac_extensions": list(S1_EXTENSIONS),
        "stac_version": "1.0.0",
    }


def s1_collection_dict(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The PC-shaped ``sentinel-1-rtc`` collection covering ``items``."""
    return {
        "id": S1_COLLECTION_ID,
        "type": "Collection",
        "title": "Sentinel 1 Radiometrically Terrain Corrected (RTC)",
        "description": (
            "Synthetic sample of the Planetary Computer Sentinel-1 RTC collection: linear gamma0 (VV, VH) "
            "over Kronebreen, Svalbard, with speckle. Not real data."
        ),
        "links": [{"rel": "license", "href": "https://creativecommons.org/licenses/by/4.0/"}],
        "extent": collection_extent(items),
        "license": "CC-BY-4.0",
        "keywords": ["ESA", "Copernicus", "Sentinel", "C-Band", "SAR", "RTC", "Synthetic"],
        "providers": [
            {"url": "https://catalyst.earth", "name": "Catalyst", "roles": ["processor"]},
            {"name": "ml4earth-stac sample archive", "roles": ["host", "licensor"]},
        ],
        "summaries": {
            "platform": sorted({it["properties"]["platform"] for it in items}),
            "constellation": ["Sentinel-1"],
            "sar:polarizations": [["VV", "VH"]],
            "sar:instrument_mode": ["IW"],
            "sar:product_type": ["GRD"],
        },
        "item_assets": {key: _pol_asset(key) for key in POLARIZATIONS},
        "stac_version": "1.0.0",
        "stac_extensions": ["https://stac-extensions.github.io/item-assets/v1.0.0/schema.json"],
    }
