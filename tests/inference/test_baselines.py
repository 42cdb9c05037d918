"""Baselines end to end: chips -> classical model (ONNX, MLM item with test metrics) -> products as STAC."""

from __future__ import annotations

import json
import shutil

import geopandas
import numpy as np
import pytest
import zarr

from ml4earth_stac.config import RunSettings
from ml4earth_stac.inference import batch
from ml4earth_stac.inference.batch import infer_benchmark
from ml4earth_stac.inference.fronts import InferenceError
from ml4earth_stac.inference.product_stac import publish_products
from ml4earth_stac.inference.train import baselines_id, best_model, train_benchmark
from ml4earth_stac.inference.unet_runtime import OnnxUnetModel
from ml4earth_stac.pipeline import run_benchmark
from ml4earth_stac.stac.validate import StacValidator, validate_tree
from tests.conftest import recipe_for_archive

SMALL_CHIPS = {"chips__size_px": 48, "splits__block_m": 2000.0, "splits__buffer_m": 100.0}


@pytest.fixture(scope="module")
def trained(small_archive, small_archive_server, tmp_path_factory):
    recipe = recipe_for_archive(small_archive, with_labels=True, **SMALL_CHIPS)
    output = tmp_path_factory.mktemp("baselines")
    labels_root = str(small_archive.root)
    settings = RunSettings(
        output_dir=output, stac_api=small_archive_server.stac_api_url, labels_root=labels_root
    )
    run_benchmark(recipe, settings)
    models = train_benchmark(recipe, output, labels_root=labels_root)
    return recipe, output, models, labels_root


def test_the_model_item_carries_mlm_fields_and_test_metrics(trained) -> None:
    recipe, output, (model,), _ = trained
    item = json.loads(model.item.read_text())
    assert StacValidator().validate_dict(item) == []
    assert item["properties"]["mlm:framework"] == "scikit-learn" and model.onnx.is_file()
    metrics = item["properties"]["ml4earth:metrics"]
    assert metrics == json.loads(json.dumps(model.metrics))
    assert 0.5 < metrics["overall_accuracy"] <= 1 and metrics["test_chips"] > 0
    assert metrics["fronts_evaluated"] > 0 and metrics["front_mde_m"] is not None
    assert metrics["front_mde_px"] == pytest.approx(metrics["front_mde_m"] / recipe.grid.resolution)
    derived = [link for link in item["links"] if link["rel"] == "derived_from"]
    assert derived and (model.item.parent / derived[0]["href"]).resolve().is_file()


def test_fronts_are_published_as_a_valid_collection(trained) -> None:
    recipe, output, (model,), _ = trained
    item_href = f"{baselines_id(recipe)}/items/{model.model_id}/{model.model_id}.json"
    run = infer_benchmark(recipe, output, model.onnx, model.model_id)
    target = publish_products(run, recipe, output, item_href)
    assert validate_tree(output / "catalog.json").ok
    fronts = geopandas.read_parquet(target / "fronts.parquet")
    assert len(fronts) == len(run.fronts) > 0 and fronts.crs.to_epsg() == 32633
    assert (
        set(fronts["glacier"]) == {"kronebreen"}
        and (fronts["length_m"] > 0).all()
        and fronts["length_m"].median() > 300
    )
    assert (target / "front-positions.png").read_bytes()[:4] == b"\x89PNG"
    report = json.loads((target / "inference-report.json").read_text())
    assert report["model"] == model.model_id and len(report["no_front"]) == len(run.no_front)
    assert all(entry["reason"] for entry in report["no_front"])
    trained_report = json.loads((output / baselines_id(recipe) / "training-report.json").read_text())
    assert trained_report[model.model_id]["overall_accuracy"] == model.metrics["overall_accuracy"]
    items = list((target / "items").glob("*/*.json"))
    assert len(items) == len(run.fronts)
    links = json.loads(items[0].read_text())["links"]
    sources = [link["href"] for link in links if link["rel"] == "derived_from"]
    assert len(sources) == 2 and all((items[0].parent / href).resolve().is_file() for href in sources)
    # the overcast scene was dropped at ingest; every other date has a front or a recorded reason
    assert len(run.fronts) + len(run.no_front) == len(run.scenes["kronebreen"])


def test_a_model_whose_bands_the_cube_lacks_fails_before_any_compute(trained, tmp_path, monkeypatch) -> None:
    recipe, output, (model,), _ = trained
    copy = tmp_path / "out"
    shutil.copytree(output / recipe.id, copy / recipe.id)
    band = zarr.open_group(copy / recipe.id / "cube.zarr" / "kronebreen" / "sentinel-2", mode="r+")["band"]
    band[:] = ["B02", "B03", "B04", "B05", "B11", "B12"]  # no B08

    def no_compute(*args, **kwargs):
        raise AssertionError("predicted before checking the bands")

    monkeypatch.setattr(batch, "predict_date", no_compute)
    with pytest.raises(InferenceError, match="missing \\['B08'\\]"):
        infer_benchmark(recipe, copy, model.onnx, model.model_id)


def test_a_unet_is_trained_within_its_budget_and_the_best_model_feeds_the_products(trained, tmp_path) -> None:
    pytest.importorskip("torch")
    recipe, output, _, labels_root = trained
    copy = tmp_path / "out"
    shutil.copytree(output, copy)
    models = train_benchmark(recipe, copy, labels_root=labels_root, unet_seconds=8)
    unet = next(m for m in models if m.model_id.endswith("-unet"))
    item = json.loads(unet.item.read_text())
    assert StacValidator().validate_dict(item) == []
    assert item["properties"]["mlm:framework"] == "pytorch"
    assert item["properties"]["mlm:input"][0]["value_scaling"], "z-scores from the train statistics"
    assert 0 < unet.metrics["train_seconds"] < 8 + 30  # the budget, plus one epoch's validation
    best = best_model(copy, recipe)
    scores = {m.model_id: m.metrics["front_mde_m"] for m in models}
    assert best.model_id == min(scores, key=lambda k: scores[k] if scores[k] is not None else float("inf"))
    run = infer_benchmark(recipe, copy, unet.onnx, unet.model_id)
    assert len(run.fronts) + len(run.no_front) == len(run.scenes["kronebreen"])
    model = OnnxUnetModel(unet.onnx)  # clouds (NaN) give nodata, not garbage
    image = np.full((len(model.bands), 40, 44), 0.3, dtype=np.float32)
    image[:, 10:20, 5:15] = np.nan
    prediction = model.predict(image, model.bands)
    assert (prediction.classes[10:20, 5:15] == 255).all() and np.isnan(
        prediction.probabilities[:, 10:20, 5:15]
    ).all()
    assert (prediction.classes[25:] != 255).all()
    np.testing.assert_allclose(prediction.probabilities[:, 25:].sum(axis=0), 1.0, rtol=1e-5)


def test_tiles_with_a_halo_leave_no_seams(trained, monkeypatch) -> None:
    """Small tiles (many seams) give exactly the probabilities of one whole-image prediction."""
    recipe, output, (model,), _ = trained
    onnx = batch.load_model(model.onnx)
    cube = batch.open_cube(output, recipe, "kronebreen", "sentinel-2")
    monkeypatch.setattr(batch, "TILE_PX", 40)
    tiled = batch.predict_date(cube, 0, onnx, "reflectance", scheduler="threads")
    whole = onnx.predict(cube.reflectance.isel(time=0).values, list(cube.band.values)).probabilities
    assert tiled.shape == whole.shape and cube.sizes["x"] > 3 * 40
    np.testing.assert_allclose(tiled, whole, rtol=1e-5, atol=1e-6, equal_nan=True)
