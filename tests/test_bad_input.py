"""Bad input: each bad scene is skipped with a recorded reason and the rest of the batch is published."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from ml4earth_stac.archive import ArchiveServer
from ml4earth_stac.cli import app
from ml4earth_stac.config import RunSettings
from ml4earth_stac.errors import RecipeError, SourceError
from ml4earth_stac.pipeline import run_benchmark
from ml4earth_stac.stac.validate import validate_tree
from tests.conftest import recipe_for_archive


def _replace(path: Path, data: bytes) -> None:
    """Write a file anew (the archive copy hard-links the originals, which must stay intact)."""
    path.unlink()
    path.write_bytes(data)


@pytest.fixture(scope="module")
def tampered(small_archive, tmp_path_factory):
    """A copy of the small archive with one corrupt COG, one missing COG, one truncated COG and one item
    without projection metadata; returns (root, {item_id: expected reason})."""
    root = tmp_path_factory.mktemp("tampered") / "archive"
    shutil.copytree(small_archive.root, root, copy_function=os.link, ignore=shutil.ignore_patterns(".served"))
    ids = [s.item_id for s in small_archive.scenes if s.aoi_cloud_fraction < 0.8]
    corrupt, missing, truncated, unprojected = ids[:4]
    _replace(root / "cogs" / corrupt / "B04.tif", b"II*\x00" + os.urandom(4096))
    (root / "cogs" / missing / "B03.tif").unlink()
    # B11 is native 20 m like the grid, so its full-resolution tiles (the end of a COG) are read
    original = (small_archive.root / "cogs" / truncated / "B11.tif").read_bytes()
    _replace(root / "cogs" / truncated / "B11.tif", original[: len(original) // 2])
    item_path = root / "items" / f"{unprojected}.json"
    item = json.loads(item_path.read_text())
    item["properties"].pop("proj:code", None)
    for asset in item["assets"].values():
        asset.pop("proj:code", None)
    item["stac_extensions"] = [e for e in item["stac_extensions"] if "projection" not in e]
    item_path.unlink()
    item_path.write_text(json.dumps(item))
    expected = {
        corrupt: "asset-unreadable",
        missing: "asset-unreadable",
        truncated: "read-failed",
        unprojected: "missing-projection",
    }
    return root, expected


@pytest.fixture(scope="module")
def tampered_run(tampered, small_archive, tmp_path_factory):
    root, expected = tampered
    output = tmp_path_factory.mktemp("tampered-out")
    with ArchiveServer(root) as server:
        report = run_benchmark(
            recipe_for_archive(small_archive), RunSettings(output_dir=output, stac_api=server.stac_api_url)
        )
    return report, output, expected


def test_each_bad_scene_is_skipped_with_its_reason(tampered_run) -> None:
    report, _, expected = tampered_run
    reasons = {s.item_id: s.reason for s in report.skipped if s.reason != "too-cloudy"}
    assert reasons == expected
    details = {s.item_id: s.detail for s in report.skipped}
    for item_id, reason in expected.items():
        if reason == "asset-unreadable":
            assert "Error opening" in details[item_id] and ".tif" in details[item_id]
    assert report.scenes_used >= 1


def test_the_rest_of_the_batch_is_published_whole(tampered_run) -> None:
    report, output, expected = tampered_run
    cube = xr.open_zarr(output / "svalbard-calving-fronts" / "cube.zarr", group="kronebreen/sentinel-2")
    assert list(cube.item_id.values) == report.used["kronebreen/sentinel-2"]
    assert not set(expected) & set(cube.item_id.values)
    for name in ("reflectance", "scl", "item_id", "cloud_fraction"):
        assert cube[name].sizes["time"] == report.scenes_used, "the truncated scene was rolled back"
    for t in range(cube.sizes["time"]):
        assert np.isfinite(cube.reflectance.isel(time=t).values).any(), "no empty half-written time step"
    assert validate_tree(output / "catalog.json").ok
    run_report = json.loads((output / "svalbard-calving-fronts" / "run-report.json").read_text())
    assert set(expected) <= {s["item_id"] for s in run_report["skipped"]}


def test_transient_failures_make_the_next_run_retry(tampered_run) -> None:
    _, output, _ = tampered_run
    plan = json.loads((output / "svalbard-calving-fronts" / "plan.json").read_text())
    assert len(plan["transient_skips"]) == 3  # corrupt, missing, truncated: worth retrying later


def test_empty_search_publishes_nothing_and_says_why(small_archive, small_archive_server, tmp_path) -> None:
    recipe = recipe_for_archive(small_archive, time_range__start="2030-01-01", time_range__end="2030-12-31")
    with pytest.raises(SourceError, match="nothing was published") as err:
        run_benchmark(recipe, RunSettings(output_dir=tmp_path, stac_api=small_archive_server.stac_api_url))
    assert "no-scenes" in str(err.value)
    assert not (tmp_path / "svalbard-calving-fronts").exists()


def test_an_aoi_without_scenes_does_not_stop_the_others(
    small_archive, small_archive_server, tmp_path
) -> None:
    recipe = recipe_for_archive(small_archive)
    tromso = {
        "type": "Polygon",
        "coordinates": [[[18.9, 69.6], [19.0, 69.6], [19.0, 69.7], [18.9, 69.7], [18.9, 69.6]]],
    }
    raw = recipe.model_dump(mode="json")
    raw["aois"].append({"name": "tromso", "geometry": tromso})
    report = run_benchmark(
        type(recipe).model_validate(raw),
        RunSettings(output_dir=tmp_path, stac_api=small_archive_server.stac_api_url),
    )
    assert report.found["tromso/sentinel-2"] == 0 and report.used["kronebreen/sentinel-2"]
    assert any(s.aoi == "tromso/sentinel-2" and s.reason == "no-scenes" for s in report.skipped)


def test_unreachable_api_is_a_clear_error(small_archive, tmp_path) -> None:
    recipe = recipe_for_archive(small_archive)
    with pytest.raises(SourceError, match="127.0.0.1:9.*--stac-api"):
        run_benchmark(recipe, RunSettings(output_dir=tmp_path, stac_api="http://127.0.0.1:9"))


def test_cli_reports_a_recipe_typo(tmp_path) -> None:
    recipe = tmp_path / "typo.yaml"
    text = (Path(__file__).resolve().parents[1] / "catalog" / "svalbard-calving-fronts.yaml").read_text()
    recipe.write_text(text.replace("max_cloud_cover:", "max_cloud_cove:"))
    result = CliRunner().invoke(app, ["run", str(recipe), "--output", str(tmp_path / "out")])
    assert result.exit_code == 1
    output = " ".join(result.output.split())  # rich wraps long lines
    assert "sources.0.max_cloud_cove" in output and "did you mean 'max_cloud_cover'" in output


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"collection": "sentinel-2-l3"}, "collection 'sentinel-2-l3' is unknown for sentinel-2"),
        ({"bands": ["B02", "B13"]}, "unknown Sentinel-2 band 'B13'"),
        ({"sensor": "modis"}, "unknown sensor 'modis'"),
    ],
)
def test_recipe_source_errors_before_any_work(small_archive, tmp_path, overrides, expected) -> None:
    recipe = recipe_for_archive(small_archive)
    raw = recipe.model_dump(mode="json")
    raw["sources"][0].update(overrides)
    with pytest.raises(RecipeError, match=expected):
        run_benchmark(
            type(recipe).model_validate(raw), RunSettings(output_dir=tmp_path, stac_api="http://127.0.0.1:9")
        )
    assert not list(tmp_path.iterdir()), "nothing was created"


def test_items_of_another_provider_are_skipped_with_the_fix(
    small_archive, small_archive_server, tmp_path
) -> None:
    recipe = recipe_for_archive(small_archive)
    raw = recipe.model_dump(mode="json")
    raw["sources"][0]["provider"] = "earth-search"  # but the archive serves Planetary Computer items
    settings = RunSettings(output_dir=tmp_path, stac_api=small_archive_server.stac_api_url)
    with pytest.raises(SourceError, match="nothing was published") as err:
        run_benchmark(type(recipe).model_validate(raw), settings)
    assert "'wrong-provider'" in str(err.value)
