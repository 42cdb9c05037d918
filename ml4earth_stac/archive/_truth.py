"""Ground truth of the archive: calving-front lines (GeoJSON, WGS84) and per-date zone masks."""

from __future__ import annotations

from typing import Any

import numpy as np

from ml4earth_stac.archive._glaciers import KRONEBREEN, GlacierSite
from ml4earth_stac.archive._grid import SceneGrid, to_wgs84
from ml4earth_stac.archive._scene import Geography
from ml4earth_stac.archive._spec import ScenePlan

ROW_STEP = 5  # one front vertex every 5 rows (50 m)


def front_rows(geo: Geography, fu: np.ndarray) -> np.ndarray:
    """Rows whose front pixel lies inside the fjord valley (where the front exists)."""
    cols = np.clip((fu * geo.n).astype(np.int64), 0, geo.n - 1)
    rows = np.arange(geo.n)
    return rows[np.abs(geo.cross[rows, cols]) < 1.0]


def front_feature(
    grid: SceneGrid, geo: Geography, plan: ScenePlan, fu: np.ndarray, site: GlacierSite = KRONEBREEN
) -> dict[str, Any]:
    """The calving front of one date as a GeoJSON LineString feature in WGS84.

    Args:
        grid: scene grid.
        geo: static landscape.
        plan: the date's plan.
        fu: front position (flow-frame scene fraction u) per row.
        site: the glacier (name, and whether its surface was mirrored).

    Returns:
        Feature with properties glacier, item_id, datetime, front_mean_easting_m (in the glacier's UTM zone,
        ``epsg``), front_retreat_m (mean retreat since the first date, truth of the plan; negative: advance)
        and epsg.
    """
    rows = front_rows(geo, fu)
    sel = rows[::ROW_STEP]
    if rows.size and sel[-1] != rows[-1]:
        sel = np.append(sel, rows[-1])
    map_u = site.map_u(fu.astype(np.float64))
    xs = grid.x0 + map_u[sel] * grid.size_m
    ys = grid.y0 - (sel + 0.5) * (grid.size_m / geo.n)
    mean_x = float(grid.x0 + map_u[rows].mean() * grid.size_m) if rows.size else float("nan")
    return {
        "type": "Feature",
        "geometry": {
            "type": "LineString",
            "coordinates": to_wgs84(list(zip(xs, ys, strict=True)), grid.epsg),
        },
        "properties": {
            "glacier": site.title,
            "item_id": plan.item_id,
            "datetime": plan.sensing_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "front_mean_easting_m": round(mean_x, 2),
            "front_retreat_m": round(plan.front_retreat_m, 2),
            "epsg": grid.epsg,
        },
    }


def fronts_collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of front lines."""
    return {"type": "FeatureCollection", "features": features}
