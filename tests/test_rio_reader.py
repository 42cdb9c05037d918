"""The same-CRS fast path gives stackstac's pixels (exactly at native resolution) on a real Sentinel-2 COG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import stackstac
from rasterio.enums import Resampling
from rasterio.warp import transform_bounds

from ml4earth_stac.rio_reader import SameCrsRioReader, band_href, split_band_href

SCENE = "S2A_29RKH_20200219_0_L2A"


def _item(reference_dir: Path, asset: str) -> dict:
    href = reference_dir / "rasters" / "sentinel-2-l2a" / SCENE / f"{asset}.tif"
    with rasterio.open(href) as src:
        epsg, transform, shape = src.crs.to_epsg(), src.transform, src.shape
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": SCENE,
        "links": [],
        "geometry": None,
        "bbox": None,
        "properties": {"datetime": "2020-02-19T11:00:00Z", "proj:epsg": epsg},
        "assets": {
            asset: {
                "href": str(href),
                "proj:epsg": epsg,
                "proj:transform": list(transform)[:6],
                "proj:shape": list(shape),
                "type": "image/tiff",
            }
        },
    }


def _stack(item: dict, asset: str, resolution: float, bounds, resampling: str, reader=None) -> np.ndarray:
    kwargs = {"reader": reader} if reader else {}
    return stackstac.stack(
        [item],
        assets=[asset],
        epsg=item["properties"]["proj:epsg"],
        resolution=resolution,
        bounds=bounds,
        dtype=np.dtype("uint16"),
        fill_value=np.uint16(0),
        rescale=False,
        snap_bounds=False,
        resampling=Resampling[resampling],
        chunksize=512,
        **kwargs,
    ).values[0, 0]


@pytest.mark.parametrize("resampling", ["nearest", "bilinear"])
def test_native_resolution_is_identical_to_stackstac(reference_dir: Path, resampling: str) -> None:
    item = _item(reference_dir, "B04")
    x0, y0 = item["assets"]["B04"]["proj:transform"][2], item["assets"]["B04"]["proj:transform"][5]
    bounds = (x0 + 10_000, y0 - 60_000, x0 + 70_000, y0 - 10_000)  # a window inside the real tile, 100 m px
    fast = _stack(item, "B04", 100, bounds, resampling, SameCrsRioReader)
    reference = _stack(item, "B04", 100, bounds, resampling)
    assert fast.shape == (500, 600)
    np.testing.assert_array_equal(fast, reference)


def test_coarser_grid_and_edges_stay_close(reference_dir: Path) -> None:
    item = _item(reference_dir, "B04")
    x0, y0 = item["assets"]["B04"]["proj:transform"][2], item["assets"]["B04"]["proj:transform"][5]
    bounds = (x0 - 20_000, y0 - 100_000, x0 + 80_000, y0 + 20_000)  # hangs over the tile's west/north edges
    fast = _stack(item, "B04", 200, bounds, "bilinear", SameCrsRioReader).astype(float)
    reference = _stack(item, "B04", 200, bounds, "bilinear").astype(float)
    assert ((fast == 0) == (reference == 0)).mean() > 0.99, "nodata outside the tile agrees"
    both = (fast > 0) & (reference > 0)
    assert np.median(np.abs(fast[both] - reference[both]) / reference[both]) < 0.05


def test_unopenable_asset_says_error_opening(tmp_path: Path, reference_dir: Path) -> None:
    item = _item(reference_dir, "B04")
    x0, y0 = item["assets"]["B04"]["proj:transform"][2], item["assets"]["B04"]["proj:transform"][5]
    bad = tmp_path / "B04.tif"
    bad.write_bytes(b"II*\x00" + bytes(64))
    item["assets"]["B04"]["href"] = str(bad)
    with pytest.raises(RuntimeError, match="Error opening .*B04.tif"):
        _stack(item, "B04", 100, (x0, y0 - 10_000, x0 + 10_000, y0), "nearest", SameCrsRioReader)


def _three_band_copy(reference_dir: Path, tmp_path: Path) -> Path:
    """A 3-band GeoTIFF of three different real B04 windows (like PC's multi-band ASTER COGs)."""
    with rasterio.open(reference_dir / "rasters" / "sentinel-2-l2a" / SCENE / "B04.tif") as src:
        planes = [src.read(1, window=((k, k + 512), (k, k + 512))) for k in (0, 100, 200)]
        profile = src.profile | {"count": 3, "height": 512, "width": 512, "tiled": True}
    path = tmp_path / "multi.tif"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.stack(planes))
    return path


@pytest.mark.parametrize("epsg", [None, 32630])
def test_band_mark_reads_one_band_of_a_multiband_file(tmp_path: Path, reference_dir: Path, epsg) -> None:
    """Band 2 of a 3-band file == that band alone, on the file's own grid and warped to another zone."""
    multi = _three_band_copy(reference_dir, tmp_path)
    with rasterio.open(multi) as src:
        with rasterio.open(tmp_path / "b03.tif", "w", **(src.profile | {"count": 1})) as one:
            one.write(src.read(2), 1)
        left, bottom, right, top = src.bounds
    item = _item(reference_dir, "B04")
    asset = item["assets"].pop("B04")
    item["assets"]["band2"] = asset | {"href": band_href(str(multi), 2)}
    item["assets"]["single"] = asset | {"href": str(tmp_path / "b03.tif")}
    bounds = (left + 600, bottom + 600, right - 600, top - 600)
    if epsg is not None:  # a neighbouring UTM zone: both go through a warp
        item["properties"]["proj:epsg"] = epsg
        inner = transform_bounds(f"EPSG:{asset['proj:epsg']}", f"EPSG:{epsg}", *bounds)
        bounds = tuple(float(round(v, -1)) for v in inner)
    marked = _stack(item, "band2", 20, bounds, "bilinear", SameCrsRioReader)
    expected = _stack(item, "single", 20, bounds, "bilinear", SameCrsRioReader if epsg is None else None)
    assert marked.shape == expected.shape and marked.size > 100
    assert (marked > 0).mean() > 0.9
    np.testing.assert_array_equal(marked, expected)


def test_band_href_round_trip_keeps_signed_query() -> None:
    signed = "https://example.blob.core.windows.net/a/VNIR.tif?st=2020&se=2021&sig=abc%3D"
    marked = band_href(signed, 3)
    assert split_band_href(marked) == (signed, 3)
    assert split_band_href(band_href(marked, 1)) == (signed, 1)
    assert split_band_href(signed) == (signed, None)
