"""Archive knobs, fixed geography constants and the per-date plan of the sample archive.

The plan is pure and seeded: ``plan_scenes(spec)`` decides for every date the acquisition time, platform,
processing baseline, cloud amount and front position, before any pixel is synthesized.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

import numpy as np

from ml4earth_stac.errors import ArchiveError

COLLECTION_ID: Final = "sentinel-2-l2a"
LANDSAT_COLLECTION_ID: Final = "landsat-c2-l2"
S1_COLLECTION_ID: Final = "sentinel-1-rtc"
ASTER_COLLECTION_ID: Final = "aster-l1t"
Provider = Literal["planetary-computer", "earth-search"]
PROVIDERS: Final = ("planetary-computer", "earth-search")
SENSORS: Final = ("sentinel-2", "landsat", "sentinel-1", "aster")
# Glaciers an archive can hold (see _glaciers); Kronebreen is always one of them.
GLACIERS: Final = ("kronebreen", "negribreen")
# South American cities of the urban tree canopy benchmark (see _cities); none by default.
CITY_KEYS: Final = ("curitiba", "medellin", "santiago")
DEFAULT_GLACIERS: Final = ("kronebreen",)
# Collection of every sensor; the Sentinel-2 collection keeps its id under both providers.
COLLECTION_OF_SENSOR: Final = {
    "sentinel-2": COLLECTION_ID,
    "landsat": LANDSAT_COLLECTION_ID,
    "sentinel-1": S1_COLLECTION_ID,
    "aster": ASTER_COLLECTION_ID,
}
EPSG: Final = 32633
AOI_NAME: Final = "kronebreen"
GLACIER_NAME: Final = "Kronebreen"
MGRS_TILE: Final = "33XVH"
# Upper-left corner of the real 109.8 km MGRS tile 33XVH (S2 tiles start 40 m west / 20 m north of the
# 100 km square); the synthetic scene is a crop of it aligned to the 60 m grid.
TILE_ORIGIN: Final = (399960.0, 8800020.0)
# Calving front of Kronebreen (inner Kongsfjorden), 78.88 N 12.45 E, in EPSG:32633.
FRONT_ANCHOR_UTM: Final = (445114.0, 8757780.0)
# Scene fractions: the first-year front sits at u = FRONT_U0 (0 west edge, 1 east edge).
FRONT_U0: Final = 0.45
# AOI box as fractions of the scene: (u_min, v_min, u_max, v_max), v grows southwards.
AOI_BOX: Final = (0.25, 0.27, 0.75, 0.73)
PIXEL_M: Final = 10.0
RELATIVE_ORBITS: Final = (9, 23, 37, 51, 66, 80, 94, 108, 123, 137)
S2A_LAUNCH: Final = dt.date(2015, 6, 23)
S2B_LAUNCH: Final = dt.date(2017, 3, 7)
S2B_OPERATIONAL: Final = dt.date(2017, 7, 1)
FORMAT_VERSION: Final = 1


@dataclass(frozen=True)
class ArchiveSpec:
    """What sample archive to build; equal specs give byte-identical archives.

    Attributes:
        n_dates: number of acquisitions (one STAC item each).
        seed: seed of every random choice (geography, dates, clouds, noise).
        scene_size_px: 10 m pixels per side of the synthetic tile crop; a multiple of 6 (60 m grid).
        first_year: year of the first acquisition.
        n_years: acquisitions are spread over ``first_year .. first_year + n_years - 1``.
        cloud_range: (min, max) cloud fraction of the ordinary scenes.
        clear_scene: make one scene (almost) cloud free.
        overcast_scene: make one scene more than 80 % clouded over the AOI.
        retreat_m_per_year: (min, max) mean front retreat rate; one rate is drawn per archive.
        nodata_corner_probability: chance that a scene has a swath-edge nodata corner.
        provider: shape of the Sentinel-2 items and COGs: Planetary Computer (``B04`` keys, ESA DN) or
            Earth Search v1 (``red`` keys, DN already shifted by -1000 from baseline 04.00 on). The same
            seed gives the same surface under both.
        sensors: ``"sentinel-2"`` plus optionally ``"landsat"`` (``landsat-c2-l2``), ``"sentinel-1"``
            (``sentinel-1-rtc``) and ``"aster"`` (``aster-l1t``), each a Planetary Computer shaped collection
            showing the truth of every date.
        glaciers: AOIs of the archive: ``"kronebreen"`` (always; EPSG:32633, tile 33XVH) plus optionally
            ``"negribreen"`` (east coast of Spitsbergen, scenes in EPSG:32634, tile 34XDN). Every date is one
            overpass seen by each glacier's own items (other tile, other Landsat path, next S1 slice).
        cities: South American cities for the tree-canopy benchmark (``curitiba``, ``medellin``,
            ``santiago``): Sentinel-2 (and Sentinel-1, when in ``sensors``) scenes in the city's own UTM
            zone, with canopy polygons as truth; Planetary Computer shaped only.
        city_size_px: 10 m pixels per side of a city scene (a multiple of 6).
        city_dates: acquisitions per city.
    """

    n_dates: int = 8
    seed: int = 0
    scene_size_px: int = 2400
    first_year: int = 2016
    n_years: int = 9
    cloud_range: tuple[float, float] = (0.05, 0.40)
    clear_scene: bool = True
    overcast_scene: bool = True
    retreat_m_per_year: tuple[float, float] = (50.0, 150.0)
    nodata_corner_probability: float = 0.4
    provider: Provider = "planetary-computer"
    sensors: tuple[str, ...] = ("sentinel-2",)
    glaciers: tuple[str, ...] = DEFAULT_GLACIERS
    cities: tuple[str, ...] = ()
    city_size_px: int = 360
    city_dates: int = 3

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON-ready dict (tuples become lists; defaults of later knobs left out, as before)."""
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        if tuple(self.glaciers) == DEFAULT_GLACIERS:
            del out["glaciers"]
        if not self.cities:
            for key in ("cities", "city_size_px", "city_dates"):
                del out[key]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchiveSpec:
        """Rebuild a spec from :meth:`to_dict` output."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


@dataclass(frozen=True)
class ScenePlan:
    """Everything decided about one acquisition before synthesis."""

    index: int
    sensing_time: dt.datetime
    platform: str
    processing_baseline: str
    generation_time: dt.datetime
    relative_orbit: int
    cloud_target: float
    cirrus_target: float
    overcast: bool
    front_u: float
    front_retreat_m: float
    snowline_u: float
    rock_snow_fraction: float
    nodata_corner: int  # -1 none, 0..3 corner index (NW, NE, SE, SW)
    sun_zenith: float
    sun_azimuth: float
    provider: str = "planetary-computer"
    mgrs_tile: str = MGRS_TILE

    @property
    def epsg(self) -> int:
        """EPSG code of the tile's UTM zone (north), e.g. 32633 for ``33XVH``."""
        return tile_epsg(self.mgrs_tile)

    @property
    def item_id(self) -> str:
        """PC id ``S2B_MSIL2A_<sensing>_R<orbit>_T<tile>_<generation>``, ES id ``S2B_<tile>_<date>_0_L2A``."""
        if self.provider == "earth-search":
            return f"S2{self.platform[-1]}_{self.mgrs_tile}_{self.sensing_time:%Y%m%d}_0_L2A"
        return (
            f"S2{self.platform[-1]}_MSIL2A_{self.sensing_time:%Y%m%dT%H%M%S}_R{self.relative_orbit:03d}"
            f"_T{self.mgrs_tile}_{self.generation_time:%Y%m%dT%H%M%S}"
        )


def tile_epsg(mgrs_tile: str) -> int:
    """EPSG code of the northern UTM zone of an MGRS tile id (``"34XDN"`` -> 32634)."""
    return 32600 + int(mgrs_tile[:2])


def check_spec(spec: ArchiveSpec) -> None:
    """Raise ArchiveError when a knob is out of range.

    Args:
        spec: the archive spec to check.

    Raises:
        ArchiveError: naming the field and the accepted values.
    """
    problems = []
    if spec.n_dates < 1:
        problems.append(f"n_dates={spec.n_dates} must be >= 1")
    if spec.scene_size_px < 120 or spec.scene_size_px % 6:
        problems.append(f"scene_size_px={spec.scene_size_px} must be a multiple of 6 and >= 120")
    if spec.n_years < 1 or not 2015 <= spec.first_year <= 2030:
        problems.append(f"first_year={spec.first_year}, n_years={spec.n_years}: use 2015..2030, n_years >= 1")
    lo, hi = spec.cloud_range
    if not 0.0 <= lo <= hi <= 0.8:
        problems.append(f"cloud_range={spec.cloud_range} must satisfy 0 <= min <= max <= 0.8")
    if not 0.0 <= spec.nodata_corner_probability <= 1.0:
        problems.append("nodata_corner_probability must lie in [0, 1]")
    if spec.provider not in PROVIDERS:
        problems.append(f"provider={spec.provider!r} must be one of {PROVIDERS}")
    sensors = tuple(spec.sensors)
    if "sentinel-2" not in sensors or len(set(sensors)) != len(sensors) or not set(sensors) <= set(SENSORS):
        problems.append(
            f"sensors={spec.sensors!r} must hold 'sentinel-2' and optionally 'landsat', 'sentinel-1', 'aster'"
        )
    glaciers = tuple(spec.glaciers)
    if AOI_NAME not in glaciers or len(set(glaciers)) != len(glaciers) or not set(glaciers) <= set(GLACIERS):
        problems.append(f"glaciers={spec.glaciers!r} must hold 'kronebreen' and optionally 'negribreen'")
    problems += _city_problems(spec)
    if problems:
        raise ArchiveError("invalid ArchiveSpec: " + "; ".join(problems) + ". Fix the ArchiveSpec arguments.")


def _city_problems(spec: ArchiveSpec) -> list[str]:
    cities = tuple(spec.cities)
    if not cities:
        return []
    problems = []
    if len(set(cities)) != len(cities) or not set(cities) <= set(CITY_KEYS):
        problems.append(f"cities={spec.cities!r} must be distinct names among {CITY_KEYS}")
    if spec.provider != "planetary-computer":
        problems.append("cities are Planetary Computer shaped only: use provider='planetary-computer'")
    if spec.city_size_px < 120 or spec.city_size_px % 6 or spec.city_dates < 1:
        problems.append(f"city_size_px={spec.city_size_px} (multiple of 6, >= 120), city_dates >= 1")
    return problems


def processing_baseline(sensing: dt.date) -> str:
    """The baseline PC items carry for a sensing date (Esri 02.12 reprocessing before 2022)."""
    if sensing.year < 2022:
        return "02.12"
    return {2022: "04.00", 2023: "05.09"}.get(sensing.year, "05.10")


def _dates(spec: ArchiveSpec, rng: np.random.Generator) -> list[dt.datetime]:
    """Unique summer sensing times spread over the years of the spec, sorted."""
    out: set[dt.datetime] = set()
    for i in range(spec.n_dates):
        year = spec.first_year + (i * spec.n_years) // spec.n_dates
        while True:
            doy = int(rng.integers(166, 259))  # mid June .. mid September
            seconds = int(rng.integers(10 * 3600 + 1800, 12 * 3600 + 2400))
            t = dt.datetime(year, 1, 1) + dt.timedelta(days=doy - 1, seconds=seconds)
            if t.date() not in {d.date() for d in out}:
                out.add(t)
                break
    return sorted(out)


def sun_angles(t: dt.datetime, lat_deg: float = 78.9, lon_deg: float = 12.45) -> tuple[float, float]:
    """Approximate mean solar zenith/azimuth (degrees) at a place (default Kronebreen) for a sensing time."""
    doy = t.timetuple().tm_yday
    decl = 23.44 * np.sin(2 * np.pi * (284 + doy) / 365.0)
    hour_angle = 15.0 * (t.hour + t.minute / 60 + lon_deg / 15 - 12)
    lat, d, h = np.radians(lat_deg), np.radians(decl), np.radians(hour_angle)
    elev = np.arcsin(np.sin(lat) * np.sin(d) + np.cos(lat) * np.cos(d) * np.cos(h))
    azimuth = (180.0 + hour_angle * 0.95) % 360
    return float(90.0 - np.degrees(elev)), float(azimuth)


def _platform(t: dt.datetime, rng: np.random.Generator) -> str:
    if t.date() < S2B_OPERATIONAL:
        return "Sentinel-2A"
    return "Sentinel-2A" if rng.random() < 0.5 else "Sentinel-2B"


def _generation_time(t: dt.datetime, baseline: str, rng: np.random.Generator) -> dt.datetime:
    seconds = dt.timedelta(seconds=int(rng.integers(3 * 3600, 30 * 3600)))
    if baseline == "02.12":  # Esri reprocessing campaign from autumn 2020 on
        campaign = dt.datetime(2020, 9, 1) + dt.timedelta(days=int(rng.integers(0, 240))) + seconds
        return max(campaign, t + seconds)
    return t + seconds


def _cloud_targets(spec: ArchiveSpec, rng: np.random.Generator) -> list[tuple[float, float, bool]]:
    """(cloud fraction, cirrus fraction, overcast) per scene index."""
    lo, hi = spec.cloud_range
    targets = [
        (float(rng.uniform(lo, hi)), float(rng.uniform(0.0, 0.08)), False) for _ in range(spec.n_dates)
    ]
    order = [int(i) for i in rng.permutation(spec.n_dates)]
    if spec.clear_scene:
        targets[order[0]] = (0.005, 0.0, False)
    if spec.overcast_scene and spec.n_dates >= 2:
        targets[order[1]] = (0.9, 0.05, True)
    return targets


def plan_scenes(spec: ArchiveSpec) -> tuple[ScenePlan, ...]:
    """Decide, seeded, what every acquisition of the archive looks like.

    Args:
        spec: the archive spec (checked with :func:`check_spec`).

    Returns:
        One plan per date, sorted by sensing time.
    """
    check_spec(spec)
    rng = np.random.default_rng([spec.seed, 2])
    times = _dates(spec, rng)
    clouds = _cloud_targets(spec, rng)
    rate = float(rng.uniform(*spec.retreat_m_per_year))
    scene_m = spec.scene_size_px * PIXEL_M
    t0 = times[0]
    plans = []
    for i, t in enumerate(times):
        years = (t - t0).days / 365.25
        retreat = max(0.0, rate * years + float(rng.normal(0.0, 25.0)) * (i > 0))
        baseline = processing_baseline(t.date())
        zenith, azimuth = sun_angles(t)
        corner = int(rng.integers(0, 4)) if rng.random() < spec.nodata_corner_probability else -1
        plans.append(
            ScenePlan(
                index=i,
                sensing_time=t,
                platform=_platform(t, rng),
                processing_baseline=baseline,
                generation_time=_generation_time(t, baseline, rng),
                relative_orbit=int(rng.choice(RELATIVE_ORBITS)),
                cloud_target=clouds[i][0],
                cirrus_target=clouds[i][1],
                overcast=clouds[i][2],
                front_u=FRONT_U0 + retreat / scene_m,
                front_retreat_m=retreat,
                snowline_u=float(rng.uniform(0.72, 0.95)),
                rock_snow_fraction=float(rng.uniform(0.08, 0.35)),
                nodata_corner=corner,
                sun_zenith=zenith,
                sun_azimuth=azimuth,
                provider=spec.provider,
            )
        )
    return tuple(plans)
