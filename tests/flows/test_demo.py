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
    for group, variable in (("kronebreen/landsat", "reflectance"), ("kronebreen/sentinel-1", "backscatter")):
        other = xr.open_zarr(tmp_path / "outputs" / "svalbard-calving-fronts" / "cube.zarr", group=group)
        assert other.sizes["time"] >= 6 and (other.x.values == cube.x.values).all(), group
        assert np.isfinite(other[variable].isel(time=0).values).mean() > 0.3, group
