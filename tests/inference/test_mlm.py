"""STAC MLM items of models: fields, value scaling, and offline validation."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import sklearn

from ml4earth_stac.errors import StacError
from ml4earth_stac.inference.classical import export_onnx
from ml4earth_stac.inference.mlm import MLM_EXTENSION, ModelOutput, mlm_item, pixel_model_item
from ml4earth_stac.stac.files import multihash_sha256
from ml4earth_stac.stac.validate import StacValidator
from tests.inference.test_classical import BANDS, train_small

COLLECTION = "../south-america-utc/collection.json"
EXT_EO = "https://stac-extensions.github.io/eo/v2.0.0/schema.json"
CREATED = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    classifier = train_small()
    return export_onnx(classifier, tmp_path_factory.mktemp("mlm") / "utc-hgb.onnx")


@pytest.fixture(scope="module")
def validator() -> StacValidator:
    return StacValidator()


@pytest.fixture(scope="module")
def item(model_path: Path) -> dict[str, Any]:
    metrics = {"overall_accuracy": 0.97, "iou": float("nan"), "per_class": {"1": 0.9}}
    return pixel_model_item(
        model_path,
        model_id="south-america-utc-hgb",
        benchmark_collection_href=COLLECTION,
        metrics=metrics,
        hyperparameters={"max_iter": 60, "random_state": 0},
        created=CREATED,
    )


def test_pixel_model_item_validates_offline(item: dict[str, Any], validator: StacValidator) -> None:
    assert validator.validate_dict(item) == []
    assert MLM_EXTENSION.endswith("/mlm/v1.5.2/schema.json") and MLM_EXTENSION in item["stac_extensions"]
    broken = json.loads(json.dumps(item))
    del broken["properties"]["mlm:input"]
    assert any("mlm:input" in problem.message for problem in validator.validate_dict(broken))


def test_pixel_model_item_describes_inputs_outputs_and_training(item: dict[str, Any]) -> None:
    properties = item["properties"]
    assert properties["mlm:name"] == item["id"] == "south-america-utc-hgb"
    assert properties["datetime"] == "2026-11-01T00:00:00Z"
    assert properties["mlm:framework"] == "scikit-learn"
    assert properties["mlm:framework_version"] == sklearn.__version__
    assert properties["mlm:architecture"].startswith("HistGradientBoosting")
    (model_input,) = properties["mlm:input"]
    assert model_input["bands"][:6] == BANDS
    assert [b["name"] for b in model_input["bands"][6:]] == ["ndvi", "ndwi", "ndsi", "nir_std5"]
    assert model_input["bands"][6]["expression"].endswith("normalized_difference(B08, B04)")
    assert model_input["input"] == {
        "shape": [-1, 10],
        "dim_order": ["batch", "bands"],
        "data_type": "float32",
    }
    assert model_input["value_scaling"] is None  # physical bands, no scaling
    assert "physical" in model_input["pre_processing_function"]["description"]
    label, probabilities = properties["mlm:output"]
    assert probabilities["result"]["shape"] == [-1, 3]
    assert [c["value"] for c in label["classification:classes"]] == [0, 1, 2]
    assert label["classification:classes"][1] == {
        "value": 1,
        "name": "vegetation",
        "description": "vegetation",
    }
    assert properties["ml4earth:metrics"] == {"overall_accuracy": 0.97, "iou": None, "per_class": {"1": 0.9}}
    assert [b.get("eo:common_name") for b in properties["bands"]][3] == "nir"
    assert item["links"][0]["rel"] == "derived_from" and item["links"][0]["href"] == COLLECTION


def test_model_asset_has_role_artifact_type_size_and_checksum(item: dict[str, Any], model_path: Path) -> None:
    asset = item["assets"]["model"]
    assert asset["href"] == model_path.name
    assert "mlm:model" in asset["roles"] and asset["mlm:artifact_type"] == "onnx"
    assert asset["file:size"] == model_path.stat().st_size
    assert asset["file:checksum"] == multihash_sha256(model_path)


def test_normalized_image_model_gets_z_score_value_scaling(
    model_path: Path, validator: StacValidator
) -> None:
    normalization = {
        "bands": ["B04", "B03", "B02", "B08"],
        "mean": [0.1, 0.2, None, 0.4],
        "std": [0.5, 0, 0.7, 0.8],
    }
    unet = mlm_item(
        model_path,  # any file stands in for the artifact here
        model_id="svalbard-unet",
        benchmark_collection_href="../svalbard/collection.json",
        bands=["B02", "B03", "B04"],
        feature_names=["B02", "B03", "B04"],
        classes=[{"value": 1, "name": "rock"}, {"value": 3, "name": "ocean", "description": "open water"}],
        normalization=normalization,
        metrics={"mde_m": 25.0},
        architecture="U-Net",
        framework="PyTorch",
        framework_version="2.13.0+cpu",
        input_name="image",
        input_shape=(-1, 3, 128, 128),
        batch_size_suggestion=8,
        dim_order=("batch", "bands", "height", "width"),
        outputs=[
            ModelOutput("logits", (-1, 2, 128, 128), ("batch", "class", "height", "width"), "float32", "")
        ],
        created=CREATED,
    )
    assert validator.validate_dict(unet) == []
    scaling = unet["properties"]["mlm:input"][0]["value_scaling"]
    assert scaling == [
        {"type": "z-score", "mean": 0.0, "stddev": 0.7},  # B02: mean None -> 0
        {"type": "z-score", "mean": 0.2, "stddev": 1.0},  # B03: std 0 -> 1 (as ChipDataset does)
        {"type": "z-score", "mean": 0.1, "stddev": 0.5},
    ]
    assert unet["properties"]["mlm:output"][0]["classification:classes"][1]["description"] == "open water"
    assert unet["properties"]["mlm:batch_size_suggestion"] == 8
    assert EXT_EO not in unet["stac_extensions"]  # no common names given


def test_bad_arguments_raise_stac_errors(model_path: Path, tmp_path: Path) -> None:
    common: dict[str, Any] = {
        "benchmark_collection_href": COLLECTION,
        "bands": ["B02"],
        "feature_names": ["B02"],
        "classes": [{"value": 0, "name": "a"}],
        "metrics": {},
        "architecture": "U-Net",
    }
    with pytest.raises(StacError, match="not a valid mlm:name"):
        mlm_item(model_path, model_id="-bad id!", normalization=None, **common)
    with pytest.raises(StacError, match="no model file"):
        mlm_item(tmp_path / "missing.onnx", model_id="model-1", normalization=None, **common)
    with pytest.raises(StacError, match=r"lack input bands \['B02'\]"):
        mlm_item(
            model_path,
            model_id="model-1",
            normalization={"bands": ["B03"], "mean": [0], "std": [1]},
            **common,
        )
    with pytest.raises(StacError, match="timezone-aware"):
        mlm_item(
            model_path, model_id="model-1", normalization=None, created=dt.datetime(2026, 1, 1), **common
        )
