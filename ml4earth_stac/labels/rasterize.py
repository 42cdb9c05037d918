"""Vector labels -> ``uint8`` arrays on a :class:`~ml4earth_stac.grid.GridSpec`.

Pixel rule (GDAL's, through :func:`rasterio.features.rasterize`): a pixel is burned when its centre lies
inside the geometry, or, with ``all_touched=True``, when the geometry touches the pixel at all. A polygon
whose edges lie on pixel edges therefore burns exactly the pixels it covers.

Labels in another CRS are reprojected to the grid's CRS first. Geometries must be valid and non-empty
(run :func:`~ml4earth_stac.labels.vector.repair_geometries` first); otherwise a :class:`LabelError` names
the features.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final

import geopandas
import numpy as np
import pandas as pd
import rasterio.features
import shapely
from affine import Affine

from ml4earth_stac.errors import LabelError
from ml4earth_stac.grid import GridSpec
from ml4earth_stac.labels.vector import feature_ids, to_grid_crs

BYTE_MAX: Final = 255
LINE_TYPE_IDS: Final = frozenset({1, 5})  # shapely: LineString, MultiLineString
LINE_CAP_STYLE: Final = "flat"
LINE_JOIN_STYLE: Final = "round"
_SHOWN: Final = 10


def rasterize_classes(
    gdf: geopandas.GeoDataFrame,
    grid: GridSpec,
    class_field: str,
    class_values: Mapping[str, int] | None = None,
    *,
    fill: int = 0,
    all_touched: bool = False,
    priority: Sequence[int] | None = None,
    id_field: str | None = None,
) -> np.ndarray:
    """Burn zone polygons into a class mask.

    Overlap rule: where features overlap, the one that comes later in the GeoDataFrame wins. With
    ``priority`` (class codes, highest priority first) a feature of a higher-priority class wins over
    any feature of a lower one, whatever their order.

    Args:
        gdf: the labels (any CRS).
        grid: the target grid.
        class_field: column holding each feature's class.
        class_values: maps class names (``str()`` of the field's values) to codes 0-255; without it the
            field must hold integer codes 0-255.
        fill: code of pixels no feature covers.
        all_touched: burn every pixel a polygon touches, not only those whose centre it covers.
        priority: every class code that occurs, highest priority first.
        id_field: column of feature ids for error messages (default: the row index).

    Returns:
        A ``uint8`` array of ``grid.shape``.

    Raises:
        LabelError: a missing field, a class with no code, a code outside 0-255, a class missing from
            ``priority``, or an unusable geometry (the features are named).
    """
    _check_byte("fill", fill)
    labels = _prepare(gdf, grid, id_field)
    codes = _class_codes(labels, class_field, class_values, id_field)
    order = _burn_order(codes, priority)
    geoms = labels.geometry.to_numpy()
    return _burn(zip(geoms[order], (int(c) for c in codes[order]), strict=True), grid, fill, all_touched)


def rasterize_binary(
    gdf: geopandas.GeoDataFrame,
    grid: GridSpec,
    *,
    all_touched: bool = False,
    id_field: str | None = None,
) -> np.ndarray:
    """Burn features into a 0/1 mask (e.g. tree canopy).

    Args:
        gdf: the labels (any CRS).
        grid: the target grid.
        all_touched: burn every pixel a geometry touches, not only those whose centre it covers.
        id_field: column of feature ids for error messages (default: the row index).

    Returns:
        A ``uint8`` array of ``grid.shape``: 1 inside a feature, 0 elsewhere.
    """
    labels = _prepare(gdf, grid, id_field)
    return _burn(((geom, 1) for geom in labels.geometry.to_numpy()), grid, 0, all_touched)


def rasterize_lines(
    gdf: geopandas.GeoDataFrame, grid: GridSpec, width_m: float, *, id_field: str | None = None
) -> np.ndarray:
    """Burn lines (e.g. calving fronts) into a 0/1 mask of a given width.

    Width rule: a pixel is 1 when its centre lies within ``width_m / 2`` of the line, measured with flat
    caps (the band stops at the line's end points, it is not extended past them) and round joins, or
    when the line itself passes through the pixel. The second part keeps a line thinner than a pixel
    connected and one pixel wide. A line through pixel centres burns ``width_m / resolution`` rows when
    that is an odd whole number.

    Args:
        gdf: LineString / MultiLineString labels (any CRS).
        grid: the target grid.
        width_m: total band width in grid CRS units (metres for UTM).
        id_field: column of feature ids for error messages (default: the row index).

    Returns:
        A ``uint8`` array of ``grid.shape``: 1 on the band, 0 elsewhere.

    Raises:
        LabelError: ``width_m`` is not positive, or a feature is not a line (the features are named).
    """
    if not (np.isfinite(width_m) and width_m > 0):
        raise LabelError(f"line width must be a positive number of metres, got {width_m}")
    labels = _prepare(gdf, grid, id_field)
    geoms = labels.geometry.to_numpy()
    not_line = ~np.isin(shapely.get_type_id(geoms), list(LINE_TYPE_IDS))
    if not_line.any():
        ids = _ids_where(labels, id_field, not_line)
        raise LabelError(
            f"line labels {ids} are not LineString/MultiLineString; convert them (e.g. polygon.boundary) "
            "or rasterize them with rasterize_classes/rasterize_binary"
        )
    band = shapely.buffer(geoms, width_m / 2, cap_style=LINE_CAP_STYLE, join_style=LINE_JOIN_STYLE)
    mask = _burn(((geom, 1) for geom in band), grid, 0, all_touched=False)
    core = _burn(((geom, 1) for geom in geoms), grid, 0, all_touched=True)
    return np.maximum(mask, core)


def _prepare(gdf: geopandas.GeoDataFrame, grid: GridSpec, id_field: str | None) -> geopandas.GeoDataFrame:
    """The labels in the grid CRS, after checking that every geometry is present, non-empty and valid."""
    geoms = gdf.geometry.to_numpy()
    unusable = shapely.is_missing(geoms) | shapely.is_empty(geoms) | ~shapely.is_valid(geoms)
    if unusable.any():
        ids = _ids_where(gdf, id_field, unusable)
        raise LabelError(
            f"label features {ids} have null, empty or invalid geometries; run repair_geometries first"
        )
    return to_grid_crs(gdf, grid.epsg, id_field=id_field)


def _class_codes(
    gdf: geopandas.GeoDataFrame,
    class_field: str,
    class_values: Mapping[str, int] | None,
    id_field: str | None,
) -> np.ndarray:
    if class_field not in gdf.columns:
        columns = [str(c) for c in gdf.columns if c != gdf.geometry.name]
        raise LabelError(f"class field {class_field!r} is not a label column; choose one of {columns}")
    values = gdf[class_field]
    if class_values is None:
        codes = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(codes) | (codes != np.round(codes)) | (codes < 0) | (codes > BYTE_MAX)
        fix = "give class_values mapping each class to a code 0-255"
    else:
        for name, code in class_values.items():
            _check_byte(f"class_values[{name!r}]", code)
        names = values.astype(str)
        bad = (values.isna() | ~names.isin(list(class_values))).to_numpy()
        codes = names.map(lambda name: class_values.get(name, 0)).to_numpy(dtype=float)
        fix = f"add them to class_values (known: {sorted(class_values)})"
    if bad.any():
        shown = sorted({str(v) for v in values[bad]})[:_SHOWN]
        ids = _ids_where(gdf, id_field, bad)
        raise LabelError(
            f"class field {class_field!r} has values {shown} with no code 0-255 (features {ids}); {fix}"
        )
    return codes.astype(np.uint8)


def _burn_order(codes: np.ndarray, priority: Sequence[int] | None) -> np.ndarray:
    """Indices in burn order: file order, or lowest priority first (rasterize lets later shapes win)."""
    if priority is None:
        return np.arange(len(codes))
    if len(set(priority)) != len(priority):
        raise LabelError(f"class priority {list(priority)} lists a code twice; list each class code once")
    rank = {int(code): position for position, code in enumerate(priority)}
    missing = sorted({int(c) for c in codes} - rank.keys())
    if missing:
        raise LabelError(f"class codes {missing} are not in the class priority {list(priority)}; add them")
    positions = np.array([rank[int(c)] for c in codes], dtype=int)
    return np.argsort(-positions, kind="stable")


def _burn(
    shapes: Iterable[tuple[shapely.Geometry, int]], grid: GridSpec, fill: int, all_touched: bool
) -> np.ndarray:
    pairs = list(shapes)
    if not pairs:
        return np.full(grid.shape, fill, dtype=np.uint8)
    return rasterio.features.rasterize(
        pairs,
        out_shape=grid.shape,
        transform=Affine(*grid.transform),
        fill=fill,
        all_touched=all_touched,
        dtype="uint8",
    )


def _check_byte(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 <= value <= BYTE_MAX:
        raise LabelError(f"{name} must be an integer 0-{BYTE_MAX} (a uint8 label code), got {value!r}")


def _ids_where(gdf: geopandas.GeoDataFrame, id_field: str | None, flags: np.ndarray) -> str:
    ids = [fid for fid, flag in zip(feature_ids(gdf, id_field), flags, strict=True) if flag]
    shown = ", ".join(ids[:_SHOWN])
    return shown + (f" and {len(ids) - _SHOWN} more" if len(ids) > _SHOWN else "")
