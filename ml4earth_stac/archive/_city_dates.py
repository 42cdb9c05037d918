"""The seeded acquisition plan of a city: Sentinel-2 and Sentinel-1 passes and the state of the vegetation.

Like ``_spec.plan_scenes`` for the glaciers, everything about a date is decided here before any pixel is
synthesized: Sentinel-2 sensing time (about 10:00-10:30 local solar time), platform, processing baseline
(Planetary Computer's rule of ``_spec.processing_baseline``: Esri 02.12 reprocessing before 2022, >= 04.00
from 2022, so the default years 2020-2024 exercise the +1000 DN offset both ways), cumulus amount (one date
is always clear), sun angles, grass greenness and tree leaf of the season, and a Sentinel-1 IW pass within
five days (dawn descending or dusk ascending).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from ml4earth_stac.archive._cities import CitySite
from ml4earth_stac.archive._sentinel1 import S1A_LAUNCH, S1B_LAUNCH, S1B_OPERATIONAL, S1Plan
from ml4earth_stac.archive._spec import S2B_OPERATIONAL, ScenePlan, processing_baseline

FIRST_YEAR: Final = 2020
N_YEARS: Final = 5  # 2020-2024: baselines 02.12 (no offset) and >= 04.00 (+1000 DN offset)
# Sentinel-2 local solar time: 10:30 at the descending node, earlier further south along the inclined track
# (fitted to real product ids: 18NVM 6.3 N at 15:36 UTC = 10:34; 19HCD 33.4 S at 14:37 UTC = 09:55).
S2_LOCAL_TIME_H: Final = 10.5
S2_LOCAL_TIME_H_PER_DEG: Final = 0.018
S1_LOCAL_TIME_H: Final = (6.0, 18.0)  # Sentinel-1 dawn-dusk orbit: descending / ascending passes
S1_ORBITS_PER_DAY: Final = 175 / 12  # 175 orbits per 12-day cycle


@dataclass(frozen=True)
class CityDate:
    """One date of a city: the Sentinel-2 and Sentinel-1 acquisitions and the state of the vegetation."""

    s2: ScenePlan
    s1: S1Plan
    greenness: float  # grass: 1 green .. 0 dry (mixed with the NPV spectrum)
    leaf: float  # trees: 1 full leaf .. 0 bare
    wet_db: float  # Sentinel-1 offset of grass and soil (moisture) and water (wind)


def solar_angles(t: dt.datetime, lon: float, lat: float) -> tuple[float, float]:
    """Approximate solar zenith and azimuth (degrees, azimuth clockwise from north) at a UTC time."""
    doy = t.timetuple().tm_yday
    decl = math.radians(23.44) * math.sin(2 * math.pi * (284 + doy) / 365.0)
    hour = math.radians(15.0 * (t.hour + t.minute / 60 + t.second / 3600 + lon / 15.0 - 12.0))
    phi = math.radians(lat)
    cos_zen = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(hour)
    az = math.atan2(math.sin(hour), math.cos(hour) * math.sin(phi) - math.tan(decl) * math.cos(phi))
    return math.degrees(math.acos(cos_zen)), (math.degrees(az) + 180.0) % 360.0


def _sensing_times(city: CitySite, rng: np.random.Generator, n: int, first_year: int, n_years: int):
    out: list[dt.datetime] = []
    for i in range(n):
        year = first_year + (round(i * (n_years - 1) / (n - 1)) if n > 1 else n_years - 1)
        while True:
            lon, lat = city.lon_lat
            hours = (
                S2_LOCAL_TIME_H + S2_LOCAL_TIME_H_PER_DEG * lat - lon / 15.0 + float(rng.uniform(-0.1, 0.1))
            )
            t = dt.datetime(year, 1, 1) + dt.timedelta(
                days=int(rng.integers(0, 365)), seconds=int(hours * 3600)
            )
            if t.date() not in {o.date() for o in out}:
                out.append(t)
                break
    return sorted(out)


def _generation_time(t: dt.datetime, baseline: str, rng: np.random.Generator) -> dt.datetime:
    """PC generation time: Esri's 02.12 reprocessing (from autumn 2020) before 2022, else hours later."""
    seconds = dt.timedelta(seconds=int(rng.integers(3 * 3600, 30 * 3600)))
    if baseline == "02.12":
        campaign = dt.datetime(2020, 9, 1) + dt.timedelta(days=int(rng.integers(0, 240))) + seconds
        return max(campaign, t + seconds)
    return t + seconds


def _s2_plan(city: CitySite, i: int, t: dt.datetime, cloud: float, rng: np.random.Generator) -> ScenePlan:
    baseline = processing_baseline(t.date())
    zenith, azimuth = solar_angles(t, *city.lon_lat)
    platform = "Sentinel-2A" if t.date() < S2B_OPERATIONAL or rng.random() < 0.5 else "Sentinel-2B"
    return ScenePlan(
        index=i,
        sensing_time=t,
        platform=platform,
        processing_baseline=baseline,
        generation_time=_generation_time(t, baseline, rng),
        relative_orbit=int(rng.choice(city.relative_orbits)),
        cloud_target=cloud,
        cirrus_target=0.0,
        overcast=False,
        front_u=0.0,
        front_retreat_m=0.0,
        snowline_u=0.0,
        rock_snow_fraction=0.0,
        nodata_corner=-1,
        sun_zenith=zenith,
        sun_azimuth=azimuth,
        provider="planetary-computer",
        mgrs_tile=city.mgrs_tile,
    )


def _s1_plan(city: CitySite, s2: ScenePlan, rng: np.random.Generator) -> S1Plan:
    """A Sentinel-1 IW pass within 5 days of the Sentinel-2 date (dawn descending or dusk ascending)."""
    descending = bool(rng.random() < 0.5)
    hours = S1_LOCAL_TIME_H[0 if descending else 1] - city.lon_lat[0] / 15.0 + float(rng.uniform(-0.3, 0.3))
    day = dt.datetime.combine(s2.sensing_time.date(), dt.time()) + dt.timedelta(days=int(rng.integers(-5, 6)))
    start = day + dt.timedelta(seconds=int(hours * 3600))
    lo, hi = S1B_OPERATIONAL
    use_b = lo <= start.date() <= hi and rng.random() < 0.5
    launch = dt.datetime.combine(S1B_LAUNCH if use_b else S1A_LAUNCH, dt.time())
    return S1Plan(
        index=s2.index,
        start_time=start,
        platform="SENTINEL-1B" if use_b else "SENTINEL-1A",
        orbit_state="descending" if descending else "ascending",
        absolute_orbit=int((start - launch).total_seconds() / 86400 * S1_ORBITS_PER_DAY) + 1,
        datatake_id=int(rng.integers(0x10000, 0xFFFFF)),
        truth_item_id=s2.item_id,
        slice_number=int(rng.integers(1, 6)),
    )


def _season(t: dt.datetime, minimum: float, peak_doy: int) -> float:
    phase = 2 * math.pi * (t.timetuple().tm_yday - peak_doy) / 365.25
    return minimum + (1.0 - minimum) * 0.5 * (1.0 + math.cos(phase))


def plan_city_dates(
    city: CitySite, seed: int, n_dates: int, first_year: int = FIRST_YEAR, n_years: int = N_YEARS
) -> tuple[CityDate, ...]:
    """Decide, seeded, every date of a city: times, platforms, baselines, clouds, seasons, S1 passes.

    Args:
        city: the city.
        seed: the city's synthesis seed.
        n_dates: number of dates (>= 1); spread evenly over the years, the last in the last year.
        first_year: year of the first date.
        n_years: dates fall in ``first_year .. first_year + n_years - 1``.

    Returns:
        One date per acquisition, sorted by time; one of them is cloud free.
    """
    rng = np.random.default_rng([seed, 60])
    times = _sensing_times(city, rng, n_dates, first_year, n_years)
    clouds = rng.uniform(*city.cloud_range, n_dates)
    clouds[int(rng.integers(n_dates))] = 0.0
    grass_min, grass_peak, leaf_min, leaf_peak = city.seasons
    out = []
    for i, t in enumerate(times):
        s2 = _s2_plan(city, i, t, float(clouds[i]), rng)
        greenness, leaf = _season(t, grass_min, grass_peak), _season(t, leaf_min, leaf_peak)
        out.append(CityDate(s2, _s1_plan(city, s2, rng), greenness, leaf, float(rng.normal(0.0, 1.0))))
    return tuple(out)
