"""Reading raster labels (COGs in any CRS) onto a grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio
from rasterio.transform import from_origin

from ml4earth_stac.errors import LabelError
from ml4earth_stac.grid import GridSpec
from ml4earth_stac.labels import read_raster_label

EPSG: int = 32633
RES: float = 10.0
X0: float = 500_000.0
Y0: float = 8_700_000.0
SIZE: int = 64
GRID = GridSpec(EPSG, RES, (X0, Y0, X0 + SIZE * RES, Y0 + SIZE * RES))
NODATA: int = 255
# A WGS84 label raster (~22 m pixels at 78.4 N) over the full height and western two thirds of GRID.
WEST, NORTH, DLON, DLAT = 14.999, 78.380, 0.001, 0.0002


def _write_cog(path: Path, data: np.ndarray, crs: str, transform, nodata: int | None = NODATA) -> Path:
    profile = {
        "driver": "COG",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": data.dtype.name,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        "blocksize": 16,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


@pytest.fixture(scope="module")
def wgs84_classes() -> np.ndarray:
    data = np.random.default_rng(5).integers(1, 6, size=(40, 20), dtype=np.uint8)
    data[10:15, 5:10] = NODATA  # inside the grid
    return data


@pytest.fixture(scope="module")
def wgs84_cog(tmp_path_factory: pytest.TempPathFactory, wgs84_classes: np.ndarray) -> Path:
    path = tmp_path_factory.mktemp("raster") / "classes_wgs84.tif"
    return _write_cog(path, wgs84_classes, "EPSG:4326", from_origin(WEST, NORTH, DLON, DLAT))


def _expected_from_wgs84(classes: np.ndarray, fill: int) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-neighbour truth computed with pyproj, and where it is safe to compare.

    GDAL's warper approximates the transformation to within 0.125 source pixel, so grid pixels whose
    centre falls within 0.2 source pixel of a source pixel edge are left out of the comparison.
    """
    xs, ys = np.meshgrid(GRID.x_coords(), GRID.y_coords())
    lon, lat = pyproj.Transformer.from_crs(EPSG, 4326, always_xy=True).transform(xs, ys)
    col_f, row_f = (lon - WEST) / DLON, (NORTH - lat) / DLAT
    col, row = np.floor(col_f).astype(int), np.floor(row_f).astype(int)
    inside = (row >= 0) & (row < classes.shape[0]) & (col >= 0) & (col < classes.shape[1])
    expected = np.full(GRID.shape, fill, dtype=np.uint8)
    values = classes[row[inside], col[inside]]
    expected[inside] = np.where(values == NODATA, fill, values)
    margin = np.minimum(np.abs(col_f - np.round(col_f)), np.abs(row_f - np.round(row_f)))
    return expected, margin > 0.2


@pytest.mark.parametrize("fill", [None, 0])
def test_wgs84_cog_is_warped_onto_the_utm_grid(wgs84_cog: Path, wgs84_classes: np.ndarray, fill) -> None:
    out_fill = NODATA if fill is None else fill
    out = read_raster_label(wgs84_cog, GRID, fill=fill)
    expected, safe = _expected_from_wgs84(wgs84_classes, out_fill)
    assert out.shape == GRID.shape
    assert out.dtype == np.uint8
    assert safe.mean() > 0.4
    np.testing.assert_array_equal(out[safe], expected[safe])
    filled = expected == out_fill  # east of the label raster, or over its nodata block
    assert 0.25 < filled.mean() < 0.5
    assert set(np.unique(out)) == set(range(1, 6)) | {out_fill}


def test_aligned_cog_in_the_grid_crs_is_read_exactly(tmp_path: Path) -> None:
    data = np.arange(32 * 16, dtype=np.uint16).reshape(32, 16)
    transform = from_origin(X0 + 8 * RES, Y0 + SIZE * RES - 4 * RES, RES, RES)  # starts at row 4, col 8
    path = _write_cog(tmp_path / "aligned.tif", data, f"EPSG:{EPSG}", transform, nodata=None)
    out = read_raster_label(path, GRID, fill=9999)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out[4:36, 8:24], data)
    assert int((out == 9999).sum()) == SIZE * SIZE - data.size


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(LabelError, match=r"raster label .*absent\.tif cannot be read"):
        read_raster_label(tmp_path / "absent.tif", GRID)


def test_garbage_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "garbage.tif"
    path.write_bytes(b"this is not a tiff" * 100)
    with pytest.raises(LabelError, match=r"garbage\.tif cannot be read"):
        read_raster_label(path, GRID)


def test_truncated_cog_names_the_path(tmp_path: Path, wgs84_cog: Path) -> None:
    path = tmp_path / "truncated.tif"
    path.write_bytes(wgs84_cog.read_bytes()[:1200])
    with pytest.raises(LabelError, match=r"truncated\.tif cannot be read .*IReadBlock failed"):
        read_raster_label(path, GRID)


def test_raster_without_crs_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.tif"
    profile = {"driver": "GTiff", "width": 4, "height": 4, "count": 1, "dtype": "uint8"}
    with rasterio.open(path, "w", transform=from_origin(0, 4, 1, 1), **profile) as dst:
        dst.write(np.ones((4, 4), dtype=np.uint8), 1)
    with pytest.raises(LabelError, match=r"nocrs\.tif has no CRS"):
        read_raster_label(path, GRID)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"resampling": "closest"}, "resampling 'closest' is unknown"),
        ({"band": 2}, "has 1 band"),
        ({"fill": -1}, "fill value -1 does not fit the uint8 band"),
        ({"fill": 0.5}, "fill value 0.5 does not fit"),
    ],
)
def test_bad_arguments_are_rejected(wgs84_cog: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(LabelError, match=message):
        read_raster_label(wgs84_cog, GRID, **kwargs)
