"""Reading, reprojecting and repairing vector labels, bad input included."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas
import pandas as pd
import pyproj
import pytest
import shapely

from ml4earth_stac.errors import LabelError, Ml4EarthError
from ml4earth_stac.labels import LabelProblem, feature_ids, read_labels, repair_geometries, to_grid_crs

BOWTIE = shapely.from_wkt("POLYGON ((0 0, 2 2, 2 0, 0 2, 0 0))")  # two unit-area triangles
COLLAPSED = shapely.from_wkt("POLYGON ((0 0, 1 1, 2 2, 0 0))")  # zero area: no polygonal part left
SQUARE = shapely.box(10, 10, 12, 12)


def _utm_labels(**columns: list) -> geopandas.GeoDataFrame:
    geoms = columns.pop("geometry")
    return geopandas.GeoDataFrame(columns, geometry=geoms, crs="EPSG:32633")


def _write_geojson(path: Path, features: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _feature(fid: str, lon: float, lat: float) -> dict:
    return {
        "type": "Feature",
        "properties": {"fid": fid, "cls": "ice"},
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
    }


def test_geojson_without_crs_is_wgs84(tmp_path: Path) -> None:
    path = _write_geojson(tmp_path / "a.geojson", [_feature("a", 15.0, 78.0), _feature("b", 16.0, 78.5)])
    gdf = read_labels(path, id_field="fid")
    assert gdf.crs == "EPSG:4326"
    assert list(gdf["fid"]) == ["a", "b"]
    assert gdf.geometry.iloc[1].equals(shapely.Point(16.0, 78.5))


@pytest.mark.parametrize("name", ["labels.gpkg", "labels.parquet", "labels.geoparquet"])
def test_roundtrip_keeps_crs_and_geometry(tmp_path: Path, name: str) -> None:
    # "fid" is GeoPackage's reserved integer feature-id column, so the id field here is "gid".
    gdf = _utm_labels(gid=["x", "y"], geometry=[SQUARE, shapely.box(0, 0, 1, 1)])
    path = tmp_path / name
    if path.suffix == ".gpkg":
        gdf.to_file(path, engine="pyogrio")
    else:
        gdf.to_parquet(path)
    back = read_labels(path, id_field="gid")
    assert back.crs.to_epsg() == 32633
    assert back.geometry.iloc[0].equals(SQUARE)
    assert list(back["gid"]) == ["x", "y"]


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(LabelError, match=r"nope\.geojson does not exist"):
        read_labels(tmp_path / "nope.geojson")


def test_zero_byte_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "empty.geojson"
    path.write_bytes(b"")
    with pytest.raises(LabelError, match="is empty"):
        read_labels(path)


def test_feature_collection_without_features_is_rejected(tmp_path: Path) -> None:
    path = _write_geojson(tmp_path / "none.geojson", [])
    with pytest.raises(LabelError, match="has no features"):
        read_labels(path)


def test_garbage_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bad.geojson"
    path.write_text("not json {")
    with pytest.raises(LabelError, match=r"bad\.geojson is not a readable vector file"):
        read_labels(path)


def test_parquet_without_geo_metadata_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "plain.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(path)
    with pytest.raises(LabelError, match=r"plain\.parquet cannot be read as GeoParquet"):
        read_labels(path)


@pytest.mark.parametrize("name", ["nocrs.gpkg", "nocrs.parquet"])
def test_missing_crs_is_rejected_outside_geojson(tmp_path: Path, name: str) -> None:
    gdf = geopandas.GeoDataFrame({"v": [1]}, geometry=[SQUARE], crs=None)
    path = tmp_path / name
    if path.suffix == ".gpkg":
        with pytest.warns(UserWarning, match="'crs' was not provided"):
            gdf.to_file(path, engine="pyogrio")
    else:
        gdf.to_parquet(path)
    with pytest.raises(LabelError, match=re.escape(f"{name} has no CRS; set one")):
        read_labels(path)


def test_layers_must_be_named_when_several(tmp_path: Path) -> None:
    path = tmp_path / "multi.gpkg"
    _utm_labels(v=[1], geometry=[SQUARE]).to_file(path, layer="fronts", engine="pyogrio")
    _utm_labels(v=[2, 3], geometry=[SQUARE, SQUARE]).to_file(path, layer="zones", engine="pyogrio")
    with pytest.raises(LabelError, match=r"several layers \['fronts', 'zones'\]"):
        read_labels(path)
    with pytest.raises(LabelError, match="no layer 'glaciers'"):
        read_labels(path, layer="glaciers")
    assert list(read_labels(path, layer="zones")["v"]) == [2, 3]


@pytest.mark.parametrize(
    ("ids", "message"),
    [(["a", "a"], r"duplicate ids \['a'\]"), (["a", None], r"is empty in rows \[1\]")],
)
def test_bad_id_field_is_rejected(tmp_path: Path, ids: list, message: str) -> None:
    path = tmp_path / "ids.parquet"
    _utm_labels(fid=ids, geometry=[SQUARE, SQUARE]).to_parquet(path)
    with pytest.raises(LabelError, match=message):
        read_labels(path, id_field="fid")
    with pytest.raises(LabelError, match="no id field 'gid'; choose one of \\['fid'\\]"):
        read_labels(path, id_field="gid")


def test_to_grid_crs_matches_pyproj() -> None:
    gdf = geopandas.GeoDataFrame(geometry=[shapely.Point(15.5, 78.2)], crs="EPSG:4326")
    projected = to_grid_crs(gdf, 32633)
    x, y = pyproj.Transformer.from_crs(4326, 32633, always_xy=True).transform(15.5, 78.2)
    assert projected.crs.to_epsg() == 32633
    assert projected.geometry.iloc[0].x == pytest.approx(x, abs=1e-6)
    assert projected.geometry.iloc[0].y == pytest.approx(y, abs=1e-6)


def test_to_grid_crs_needs_a_crs() -> None:
    with pytest.raises(LabelError, match="no CRS"):
        to_grid_crs(geopandas.GeoDataFrame(geometry=[SQUARE]), 32633)


def test_to_grid_crs_names_features_outside_the_projection() -> None:
    gdf = geopandas.GeoDataFrame(
        {"fid": ["ok", "pole"]}, geometry=[shapely.Point(10, 50), shapely.Point(10, 95)], crs="EPSG:4326"
    )
    with pytest.raises(LabelError, match=r"features pole cannot be projected to EPSG:3857"):
        to_grid_crs(gdf, 3857, id_field="fid")


def test_bowtie_is_repaired_into_its_two_triangles() -> None:
    gdf = _utm_labels(fid=["good", "bow"], geometry=[SQUARE, BOWTIE])
    repaired, problems = repair_geometries(gdf, "fid")
    assert BOWTIE.area == 0  # the invalid bowtie's signed areas cancel out
    assert repaired.geometry.iloc[1].is_valid
    assert repaired.geometry.iloc[1].area == pytest.approx(2.0)
    assert repaired.geometry.iloc[0].equals(SQUARE)
    assert [(p.feature_id, p.action) for p in problems] == [("bow", "repaired")]
    assert "Self-intersection" in problems[0].reason


def test_unrepairable_and_null_geometries_are_rejected_with_their_ids() -> None:
    gdf = _utm_labels(fid=["flat", "keep", "null"], geometry=[COLLAPSED, SQUARE, None])
    repaired, problems = repair_geometries(gdf, "fid")
    assert list(repaired["fid"]) == ["keep"]
    assert list(repaired.index) == [1]
    assert problems == [
        LabelProblem("flat", problems[0].reason, "rejected"),
        LabelProblem("null", "geometry is null or empty", "rejected"),
    ]
    assert "no polygonal part left" in problems[0].reason


def test_line_labels_keep_only_line_parts() -> None:
    zero_length = shapely.LineString([(5, 5), (5, 5)])
    gdf = _utm_labels(geometry=[zero_length, shapely.LineString([(0, 0), (3, 0)])])
    repaired, problems = repair_geometries(gdf)
    assert list(repaired.index) == [1]
    assert problems[0].feature_id == "0"
    assert "no line part left" in problems[0].reason


def test_repair_drops_the_lines_a_polygon_repair_leaves() -> None:
    # A square with a spike: make_valid gives the square plus a dangling line, only the square is kept.
    spiked = shapely.from_wkt("POLYGON ((0 0, 2 0, 2 2, 2 4, 2 2, 0 2, 0 0))")
    repaired, _ = repair_geometries(_utm_labels(geometry=[spiked]))
    fixed = repaired.geometry.iloc[0]
    assert fixed.geom_type in {"Polygon", "MultiPolygon"}
    assert fixed.area == pytest.approx(4.0)


def test_strict_mode_names_the_feature() -> None:
    gdf = _utm_labels(fid=["glacier-7", "bow"], geometry=[COLLAPSED, BOWTIE])
    with pytest.raises(LabelError, match="feature glacier-7: invalid geometry") as info:
        repair_geometries(gdf, "fid", strict=True)
    assert "bow" not in str(info.value)  # a repairable feature is not an error
    assert isinstance(info.value, Ml4EarthError)
    repaired, _ = repair_geometries(gdf.iloc[[1]], "fid", strict=True)
    assert repaired.geometry.iloc[0].area == pytest.approx(2.0)


def test_feature_ids_default_to_the_index() -> None:
    gdf = _utm_labels(geometry=[SQUARE, SQUARE]).set_index(pd.Index([10, 20]))
    assert feature_ids(gdf) == ["10", "20"]
    with pytest.raises(LabelError, match="id field 'fid' is not a label column"):
        feature_ids(gdf, "fid")
