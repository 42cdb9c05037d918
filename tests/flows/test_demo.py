"""The front door: `ml4earth demo` builds the archive, serves it, runs the Prefect flow, validates."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from ml4earth_stac.stac.validate import validate_tree
from ml4earth_stac.store.dataset import ChipDataset

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ml4earth_stac.cli",
            "demo",
            "--output",
            str(tmp_path / "outputs"),
            "--archive",
            str(tmp_path / "archive"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "ml4earth serve" in result.stdout and "run summary" in result.stdout
    assert "valid:" in result.stdout
    assert validate_tree(tmp_path / "outputs" / "catalog.json").ok
    cube = xr.open_zarr(
        tmp_path / "outputs" / "svalbard-calving-fronts" / "cube.zarr", group="kronebreen/sentinel-2"
    )
    assert cube.sizes["time"] >= 6
    green = cube.reflectance.sel(band="B03")
    cloudy = cube.scl.isin([3, 8, 9, 10])
    assert bool(green.where(cloudy).isnull().all()), "cloudy pixels are masked in every scene"
    assert 0.0 < float(green.quantile(0.05)) < 0.1 and 0.3 < float(green.quantile(0.95)) < 1.0
    assert np.isfinite(green.isel(time=0).values).any()
    store = tmp_path / "outputs" / "svalbard-calving-fronts" / "cube.zarr"
    for glacier in ("kronebreen", "negribreen"):
        s2 = xr.open_zarr(store, group=f"{glacier}/sentinel-2")
        for sensor, variable in (
            ("landsat", "reflectance"),
            ("sentinel-1", "backscatter"),
            ("aster", "reflectance"),
        ):
            other = xr.open_zarr(store, group=f"{glacier}/{sensor}")
            assert other.sizes["time"] >= 6 and (other.x.values == s2.x.values).all(), (glacier, sensor)
            assert (other.y.values == s2.y.values).all(), (glacier, sensor)
            assert np.isfinite(other[variable].isel(time=0).values).mean() > 0.3, (glacier, sensor)
    catalog = (tmp_path / "outputs" / "catalog.json").read_text()
    assert "south-america-utc" in catalog and "svalbard-calving-fronts" in catalog
    for benchmark, sensor, classes in (
        ("svalbard-calving-fronts", "sentinel-2", {1, 2, 3, 4}),
        ("south-america-utc", "sentinel-2", {0, 1}),
    ):
        chips = tmp_path / "outputs" / benchmark / "chips.zarr"
        for split in ("train", "val", "test"):
            dataset = ChipDataset(chips, split=split, sensor=sensor)
            assert len(dataset) > 0, (benchmark, split)
            assert set(dataset.class_balance()) <= classes
    outputs = tmp_path / "outputs"
    for benchmark, product in (("svalbard-calving-fronts", "fronts"), ("south-america-utc", "canopy")):
        models = list((outputs / f"{benchmark}-baselines" / "items").glob("*/*.json"))
        assert {m.stem.rsplit("-", 1)[1] for m in models} >= {"hgb", "unet"}, benchmark
        assert (outputs / f"{benchmark}-{product}" / "collection.json").is_file()
    assert (outputs / "svalbard-calving-fronts-fronts" / "front-positions.png").is_file()
    assert len(list((outputs / "south-america-utc-canopy" / "maps").glob("*.tif"))) == 3
