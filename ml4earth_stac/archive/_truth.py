"""Ground truth of the archive: calving-front lines (GeoJSON, WGS84) and per-date zone masks."""

from __future__ import annotations

from typing import Any

import numpy as np

from ml4earth_stac.archive._grid import SceneGrid, to_wgs84
from ml4earth_stac.archive._scene import Geography
from ml4earth_stac.archive._spec import EPSG, GLACIER_NAME, ScenePlan

ROW_STEP = 5  # one front vertex every 5 rows (50 m)


def front_rows(geo: Geography, fu: np.ndarray) -> np.ndarray:
    """Rows whose front pixel lies inside the fjord valley (where the front exists)."""
    cols = np.clip((fu * geo.n).astype(np.int64), 0, geo.n - 1)
    rows = np.arange(geo.n)
    return rows[np.abs(geo.cross[rows, cols]) < 1.0]


def front_feature(grid: SceneGrid, geo: Geography, plan: ScenePlan, fu: np.ndarray) -> dict[str, Any]:
    """The calving front of one date as a GeoJSON LineString feature in WGS84.

    Args:
        grid: scene grid.
        geo: static landscape.
        plan: the date's plan.
        fu: front position (scene fraction u) per row.

    Returns:
        Feature with properties glacier, item_id, datetime, front_mean_easting_m (EPSG:32633),
        front_retreat_m (mean retreat since the first date, truth of the plan) and epsg.
    """
    rows = front_rows(geo, fu)
    sel = rows[::ROW_STEP]
    if rows.size and sel[-1] != rows[-1]:
        sel = np.append(sel, rows[-1])
    xs = grid.x0 + fu[sel].astype(np.float64) * grid.size_m
    ys = grid.y0 - (sel + 0.5) * (grid.size_m / geo.n)
    mean_x = float(grid.x0 + fu[rows].astype(np.float64).mean() * grid.size_m) if rows.size else float("nan")
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": to_wgs84(list(zip(xs, ys, strict=True)))},
        "properties": {
            "glacier": GLACIER_NAME,
            "item_id": plan.item_id,
            "datetime": plan.sensing_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "front_mean_easting_m": round(mean_x, 2),
            "front_retreat_m": round(plan.front_retreat_m, 2),
            "epsg": EPSG,
        },
    }


def fronts_collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of front lines."""
    return {"type": "FeatureCollection", "features": features}
