"""Vector labels: read GeoJSON / GeoPackage / GeoParquet, reproject to the grid CRS, repair geometries.

Every error names the file, layer, field or feature id at fault and says how to fix it. A feature id is the
value of the ``id_field`` column when one is given, else the row's index label (the row number for a file
just read).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import geopandas
import numpy as np
import pyogrio
import pyogrio.errors
import shapely
import shapely.validation

from ml4earth_stac.errors import LabelError

PARQUET_SUFFIXES: Final = frozenset({".parquet", ".geoparquet"})
GEOJSON_SUFFIXES: Final = frozenset({".geojson", ".json"})
GEOJSON_CRS: Final = "EPSG:4326"  # RFC 7946: GeoJSON coordinates are WGS84 longitude/latitude
_POLYGONAL: Final = 2
_LINEAL: Final = 1
_KIND_NAMES: Final = {_POLYGONAL: "polygonal", _LINEAL: "line", 0: "point"}
_FIRST_MULTI_TYPE_ID: Final = 4  # shapely type ids: 4-6 Multi*, 7 GeometryCollection


@dataclass(frozen=True)
class LabelProblem:
    """One label feature that had to be repaired or was rejected.

    Attributes:
        feature_id: the feature's id (see the module docstring).
        reason: what was wrong, in words.
        action: ``"rejected"`` (the feature was dropped) or ``"repaired"`` (its geometry was replaced).
    """

    feature_id: str
    reason: str
    action: Literal["repaired", "rejected"] = "rejected"


def read_labels(
    path: str | Path, *, layer: str | None = None, id_field: str | None = None
) -> geopandas.GeoDataFrame:
    """Read a vector label file.

    GeoParquet (``.parquet``, ``.geoparquet``) is read with :func:`geopandas.read_parquet`; anything else
    (GeoJSON, GeoPackage, ...) with pyogrio. GeoJSON without a CRS is WGS84 (RFC 7946); any other format
    without a CRS is rejected.

    Args:
        path: the label file.
        layer: the layer to read from a multi-layer file (GeoPackage); required when there are several.
        id_field: a column holding unique feature ids; checked to exist, be non-null and unique.

    Raises:
        LabelError: the file is missing, empty, unreadable, has no features, no CRS, or a bad ``id_field``.
    """
    path = Path(path)
    if not path.is_file():
        raise LabelError(f"label file {path} does not exist; check the labels path in the recipe")
    if path.stat().st_size == 0:
        raise LabelError(f"label file {path} is empty (0 bytes); re-export the labels")
    if path.suffix.lower() in PARQUET_SUFFIXES:
        gdf = _read_parquet(path)
    else:
        gdf = _read_ogr(path, layer)
    if len(gdf) == 0:
        where = f" (layer {layer!r})" if layer else ""
        raise LabelError(f"label file {path}{where} has no features; check that the right file/layer is used")
    if gdf.crs is None:
        if path.suffix.lower() not in GEOJSON_SUFFIXES:
            raise LabelError(
                f"label file {path} has no CRS; set one (e.g. `ogr2ogr -a_srs EPSG:<code>` or "
                "GeoDataFrame.set_crs) and write it again"
            )
        gdf = gdf.set_crs(GEOJSON_CRS)
    if id_field is not None:
        _check_id_field(gdf, id_field, path)
    return gdf


def to_grid_crs(
    gdf: geopandas.GeoDataFrame, epsg: int, *, id_field: str | None = None
) -> geopandas.GeoDataFrame:
    """Reproject labels to a grid's CRS (a new frame; coordinates unchanged when already in it).

    Args:
        gdf: labels with a CRS.
        epsg: EPSG code of the grid CRS.
        id_field: column of feature ids, used in error messages.

    Raises:
        LabelError: the labels have no CRS, or some features fall outside the grid CRS's domain.
    """
    if gdf.crs is None:
        raise LabelError("labels have no CRS; set one with GeoDataFrame.set_crs before reprojecting")
    projected = gdf.to_crs(epsg)
    bounds = projected.geometry.bounds.to_numpy()
    present = ~(projected.geometry.isna() | projected.geometry.is_empty).to_numpy()
    bad = present & ~np.isfinite(bounds).all(axis=1)
    if bad.any():
        ids = [fid for fid, is_bad in zip(feature_ids(gdf, id_field), bad, strict=True) if is_bad]
        raise LabelError(
            f"label features {_id_list(ids)} cannot be projected to EPSG:{epsg} (outside its area of use, "
            "or coordinates not in the declared CRS, e.g. lat/lon swapped); fix or drop them"
        )
    return projected


def repair_geometries(
    gdf: geopandas.GeoDataFrame, id_field: str | None = None, *, strict: bool = False
) -> tuple[geopandas.GeoDataFrame, list[LabelProblem]]:
    """Repair invalid geometries and drop those that cannot be used.

    Invalid geometries (self-intersections, bowties, collapsed rings) are repaired with
    :func:`shapely.make_valid`, keeping only the parts of the feature's own kind: polygonal parts of a
    polygon label, line parts of a line label, points of a point label. A feature that is null or empty,
    before or after repair, is rejected. Valid geometries are kept unchanged.

    Args:
        gdf: the labels.
        id_field: column of feature ids (default: the row index), used in problems and errors.
        strict: raise instead of rejecting features.

    Returns:
        The labels without rejected features (index kept) and one :class:`LabelProblem` per repaired or
        rejected feature, in row order.

    Raises:
        LabelError: ``strict`` is set and some features had to be rejected (their ids are named).
    """
    ids = feature_ids(gdf, id_field)
    geoms = gdf.geometry.to_numpy()
    keep = np.ones(len(gdf), dtype=bool)
    repaired = geoms.copy()
    problems: list[LabelProblem] = []
    for i in np.flatnonzero(~shapely.is_valid(geoms) | shapely.is_empty(geoms) | shapely.is_missing(geoms)):
        fixed, problem = _repair_one(geoms[i], ids[i])
        problems.append(problem)
        keep[i] = fixed is not None
        repaired[i] = fixed
    rejected = [p for p in problems if p.action == "rejected"]
    if strict and rejected:
        details = "; ".join(f"feature {p.feature_id}: {p.reason}" for p in rejected)
        raise LabelError(f"{len(rejected)} label feature(s) unusable: {details}; fix or delete them")
    out = gdf.copy()
    out[out.geometry.name] = geopandas.GeoSeries(repaired, index=gdf.index, crs=gdf.crs)
    return out[keep], problems


def feature_ids(gdf: geopandas.GeoDataFrame, id_field: str | None = None) -> list[str]:
    """The id of every feature as a string: the ``id_field`` column, else the row index.

    Raises:
        LabelError: ``id_field`` is not a column.
    """
    if id_field is None:
        return [str(label) for label in gdf.index]
    if id_field not in gdf.columns:
        raise LabelError(f"id field {id_field!r} is not a label column; choose one of {_columns(gdf)}")
    return [str(value) for value in gdf[id_field]]


def _repair_one(
    geom: shapely.Geometry | None, feature_id: str
) -> tuple[shapely.Geometry | None, LabelProblem]:
    if geom is None or geom.is_empty:
        return None, LabelProblem(feature_id, "geometry is null or empty")
    kind = int(shapely.get_dimensions(geom))
    why = shapely.validation.explain_validity(geom)
    parts = [p for p in _flat_parts(shapely.make_valid(geom)) if shapely.get_dimensions(p) == kind]
    if not parts:
        return None, LabelProblem(
            feature_id, f"invalid geometry ({why}) has no {_KIND_NAMES[kind]} part left"
        )
    fixed = parts[0] if len(parts) == 1 else _collect(parts, kind)
    return fixed, LabelProblem(feature_id, f"invalid geometry ({why}) repaired", action="repaired")


def _flat_parts(geom: shapely.Geometry) -> list[shapely.Geometry]:
    parts = [geom]
    while any(shapely.get_type_id(p) >= _FIRST_MULTI_TYPE_ID for p in parts):
        parts = [q for p in parts for q in shapely.get_parts(p)]
    return [p for p in parts if not p.is_empty]


def _collect(parts: Sequence[shapely.Geometry], kind: int) -> shapely.Geometry:
    if kind == _POLYGONAL:
        return shapely.MultiPolygon(list(parts))
    if kind == _LINEAL:
        return shapely.MultiLineString(list(parts))
    return shapely.MultiPoint(list(parts))


def _read_parquet(path: Path) -> geopandas.GeoDataFrame:
    try:
        return geopandas.read_parquet(path)
    except (ValueError, OSError) as exc:
        raise LabelError(
            f"label file {path} cannot be read as GeoParquet ({exc}); write it with GeoDataFrame.to_parquet"
        ) from exc


def _read_ogr(path: Path, layer: str | None) -> geopandas.GeoDataFrame:
    try:
        layers = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except (pyogrio.errors.DataSourceError, OSError) as exc:
        raise LabelError(
            f"label file {path} is not a readable vector file ({exc}); use GeoJSON, GeoPackage or GeoParquet"
        ) from exc
    if layer is None and len(layers) > 1:
        raise LabelError(f"label file {path} has several layers {layers}; name one with `layer`")
    if layer is not None and layer not in layers:
        raise LabelError(f"label file {path} has no layer {layer!r}; choose one of {layers}")
    try:
        return geopandas.read_file(path, layer=layer, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
        raise LabelError(f"label file {path} cannot be read ({exc}); check that it is not truncated") from exc


def _check_id_field(gdf: geopandas.GeoDataFrame, id_field: str, path: Path) -> None:
    if id_field not in gdf.columns:
        raise LabelError(f"label file {path} has no id field {id_field!r}; choose one of {_columns(gdf)}")
    ids = gdf[id_field]
    if ids.isna().any():
        rows = [int(i) for i in np.flatnonzero(ids.isna().to_numpy())]
        raise LabelError(f"label file {path}: id field {id_field!r} is empty in rows {rows[:10]}; fill it")
    duplicated = sorted({str(v) for v in ids[ids.duplicated()]})
    if duplicated:
        raise LabelError(
            f"label file {path}: id field {id_field!r} has duplicate ids {duplicated[:10]}; make them unique"
        )


def _columns(gdf: geopandas.GeoDataFrame) -> list[str]:
    return [str(c) for c in gdf.columns if c != gdf.geometry.name]


def _id_list(ids: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")
