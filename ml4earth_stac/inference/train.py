"""Train the baselines of a published benchmark, evaluate them on its test split, publish them as MLM items.

One short pass: the train split of the benchmark's chip store (physical values) -> a per-pixel classifier
-> ONNX -> predictions on every test chip with onnxruntime (the same runtime as the batch inference) ->
the field's metrics -> an MLM item per model, in a ``<benchmark>-baselines`` collection published from a
staging folder like every other collection.

Metrics: per-class IoU, mean IoU and overall accuracy of the classes for every benchmark; for a benchmark
with ``lines`` labels (calving fronts) also the mean distance error (CaFFe-style, in metres) between the
front extracted from the predicted zones (argmax over the zone classes, see :func:`zone_map`) and the
true front line clipped to the test chip; for a binary benchmark (canopy) precision, recall and F1.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.ndimage import uniform_filter

from ml4earth_stac.chipping import resolve_href
from ml4earth_stac.config import Recipe
from ml4earth_stac.grid import GridSpec
from ml4earth_stac.inference.classical import export_onnx, train_pixel_classifier
from ml4earth_stac.inference.features import available_indices
from ml4earth_stac.inference.fronts import GLACIER, OCEAN, ROCK, InferenceError, extract_front
from ml4earth_stac.inference.metrics import iou as class_iou
from ml4earth_stac.inference.metrics import (
    mean_distance_error_many,
    mean_iou,
    overall_accuracy,
    precision_recall_f1,
)
from ml4earth_stac.inference.mlm import METRICS_FIELD, ModelOutput, mlm_item, pixel_model_item
from ml4earth_stac.inference.runtime import OnnxPixelModel
from ml4earth_stac.inference.unet_runtime import OnnxUnetModel, annotate_unet_onnx
from ml4earth_stac.labels import read_labels
from ml4earth_stac.stac import publish
from ml4earth_stac.stac.build import STAC_VERSION
from ml4earth_stac.store.chips import LABEL_NODATA
from ml4earth_stac.store.dataset import ChipDataset

ZONE_CLASSES: Final = (ROCK, GLACIER, OCEAN)
MAJORITY_PX: Final = 5


@dataclass(frozen=True)
class TrainedModel:
    """A published baseline: its id, ONNX file, MLM item and test metrics."""

    model_id: str
    onnx: Path
    item: Path
    metrics: Mapping[str, Any]


def baselines_id(recipe: Recipe) -> str:
    """The id of the collection holding a benchmark's baseline models."""
    return f"{recipe.id}-baselines"


def train_benchmark(
    recipe: Recipe,
    output_dir: Path,
    *,
    seed: int = 0,
    labels_root: str | None = None,
    unet_seconds: float | None = None,
) -> list[TrainedModel]:
    """Train, evaluate and publish the baselines of a benchmark.

    The classical baseline of every chipped sensor, and, with ``unet_seconds`` and torch installed (the
    ``train`` extra), a small U-Net of the first sensor trained for at most that long.

    Args:
        recipe: the benchmark (with labels; its chips must be published under ``output_dir``).
        output_dir: the publish folder of ``ml4earth run`` / ``ml4earth demo``.
        seed: seeds the pixel sample and the estimators (same seed and chips: same model).
        labels_root: where the recipe's label files are (for the front distance error).
        unet_seconds: the U-Net's training budget in seconds; None: no U-Net.

    Raises:
        InferenceError: the benchmark has no published chips or labels.
    """
    chips = output_dir / recipe.id / publish.CHIPS_NAME
    if recipe.labels is None or not (chips / "zarr.json").is_file():
        raise InferenceError(
            f"no chips of {recipe.id} under {output_dir}; run `ml4earth run {recipe.id}` (with labels) first"
        )
    collection_id = baselines_id(recipe)
    staging = publish.staging_dir(output_dir, collection_id)
    trained = [
        _train_sensor(recipe, chips, sensor, staging, seed, labels_root) for sensor in recipe.labels.sensors
    ]
    if unet_seconds is not None:
        trained.append(
            _train_unet(recipe, chips, recipe.labels.sensors[0], staging, seed, labels_root, unet_seconds)
        )
    _write_collection(staging, recipe, trained)
    report = {m.model_id: dict(m.metrics) for m in trained}
    (staging / "training-report.json").write_text(json.dumps(report, indent=2, default=_json_default))
    target = publish.swap_into_place(staging, output_dir, collection_id)
    return [
        TrainedModel(
            m.model_id, target / m.onnx.relative_to(staging), target / m.item.relative_to(staging), m.metrics
        )
        for m in trained
    ]


def _train_sensor(
    recipe: Recipe, chips: Path, sensor: str, staging: Path, seed: int, labels_root: str | None
) -> TrainedModel:
    train = ChipDataset(chips, "train", sensor, normalize=False)
    indices = available_indices(train.bands)  # SAR has no NDVI: only the indices the bands allow
    classifier = train_pixel_classifier(train, train.bands, train.classes, indices=indices, seed=seed)
    model_id = f"{recipe.id}-{sensor}-hgb"
    folder = staging / "items" / model_id
    folder.mkdir(parents=True, exist_ok=True)
    onnx = export_onnx(classifier, folder / f"{model_id}.onnx")
    test = ChipDataset(chips, "test", sensor, normalize=False)
    metrics = evaluate(OnnxPixelModel(onnx), test, recipe, labels_root)
    metrics = {
        **metrics,
        "train_seconds": round(classifier.seconds, 2),
        "train_pixels": sum(classifier.pixels_used.values()),
    }
    item = pixel_model_item(
        onnx,
        model_id=model_id,
        benchmark_collection_href=f"../../../{recipe.id}/collection.json",
        metrics=metrics,
        hyperparameters=classifier.hyperparameters,
    )
    return _write_item(staging, recipe, model_id, onnx, item, metrics)


def _train_unet(
    recipe: Recipe,
    chips: Path,
    sensor: str,
    staging: Path,
    seed: int,
    labels_root: str | None,
    seconds: float,
) -> TrainedModel:
    from ml4earth_stac.inference.unet import export_unet_onnx, train_unet  # torch: the train extra only

    train = ChipDataset(chips, "train", sensor)
    val = ChipDataset(chips, "val", sensor)
    values = [int(c["value"]) for c in train.classes]
    model, report = train_unet(train, val, values, epochs=30, seed=seed, max_seconds=seconds)
    model_id = f"{recipe.id}-{sensor}-unet"
    folder = staging / "items" / model_id
    folder.mkdir(parents=True, exist_ok=True)
    onnx = export_unet_onnx(model, len(train.bands), folder / f"{model_id}.onnx").path
    annotate_unet_onnx(onnx, train.bands, train.attrs["normalization"], train.classes)
    test = ChipDataset(chips, "test", sensor, normalize=False)
    metrics = evaluate(OnnxUnetModel(onnx), test, recipe, labels_root)
    metrics |= {"train_seconds": round(report.seconds, 1), "epochs": len(report.epochs)}
    item = mlm_item(
        onnx,
        model_id=model_id,
        benchmark_collection_href=f"../../../{recipe.id}/collection.json",
        bands=train.bands,
        feature_names=train.bands,
        classes=train.classes,
        normalization=train.attrs["normalization"],
        metrics=metrics,
        architecture="U-Net",
        framework="pytorch",
        tasks=("semantic-segmentation",),
        input_name="image",
        input_shape=(-1, len(train.bands), -1, -1),
        dim_order=("batch", "bands", "height", "width"),
        outputs=(
            ModelOutput(
                "logits",
                (-1, len(values), -1, -1),
                ("batch", "class", "height", "width"),
                "float32",
                "class logits per pixel (softmax for probabilities), in classification:classes order",
            ),
        ),  # fmt: skip
        hyperparameters=report.to_dict().get("config"),
        batch_size_suggestion=16,
    )
    return _write_item(staging, recipe, model_id, onnx, item, metrics)


def _write_item(
    staging: Path, recipe: Recipe, model_id: str, onnx: Path, item: dict[str, Any], metrics: Mapping[str, Any]
) -> TrainedModel:
    item["collection"] = baselines_id(recipe)
    item["links"] += publish.item_tree_links()
    path = staging / "items" / model_id / f"{model_id}.json"
    path.write_text(json.dumps(item, indent=2, default=_json_default))
    return TrainedModel(model_id, onnx, path, metrics)


def best_model(output_dir: Path, recipe: Recipe) -> TrainedModel:
    """The published baseline with the best test score: lowest front MDE, else highest overall accuracy.

    Raises:
        InferenceError: no baseline of the benchmark is published under ``output_dir``.
    """
    models = []
    for path in sorted((output_dir / baselines_id(recipe) / "items").glob("*/*.json")):
        item = json.loads(path.read_text())
        onnx = path.with_suffix(".onnx")
        models.append(TrainedModel(item["id"], onnx, path, item["properties"].get(METRICS_FIELD, {})))
    if not models:
        raise InferenceError(f"no baseline of {recipe.id} in {output_dir}; run `ml4earth train` first")

    def score(model: TrainedModel) -> tuple[float, float]:
        mde = model.metrics.get("front_mde_m")
        return (mde if mde is not None else float("inf"), -(model.metrics.get("overall_accuracy") or 0.0))

    primary = recipe.labels.sensors[0] if recipe.labels else ""
    return min((m for m in models if f"-{primary}-" in m.model_id), key=score)


def zone_map(
    probabilities: np.ndarray, class_values: Sequence[int], nodata: np.ndarray, majority_px: int = MAJORITY_PX
) -> np.ndarray:
    """Zones (rock, glacier, ocean) from class probabilities: argmax over the zone classes, then a majority.

    The front class of the labels is a band on top of the zones; leaving it out of the argmax makes glacier
    and ocean pixels meet again, so that the front is the glacier-ocean boundary (:func:`extract_front`).
    A ``majority_px`` window majority (valid pixels only) removes isolated pixels, e.g. bright icebergs in
    the melange taken for glacier, which would otherwise add front pieces far from the terminus
    (measured on the demo's test chips: front MDE 394 m without it, 123 m with a 5 px window).
    """
    rows = [i for i, v in enumerate(class_values) if v in ZONE_CLASSES]
    best = np.argmax(np.nan_to_num(probabilities[rows], nan=-1.0), axis=0)
    values = np.asarray([class_values[i] for i in rows], dtype=np.uint8)
    if majority_px > 1:
        votes = [
            uniform_filter(((best == k) & ~nodata).astype(np.float32), majority_px) for k in range(len(rows))
        ]
        best = np.argmax(np.stack(votes), axis=0)
    return np.where(nodata, LABEL_NODATA, values[best]).astype(np.uint8)


def evaluate(
    model: OnnxPixelModel, test: ChipDataset, recipe: Recipe, labels_root: str | None
) -> dict[str, Any]:
    """The field's metrics of a model on a test split (see the module docstring)."""
    values = [int(c["value"]) for c in test.classes]
    predicted, truth, pairs = [], [], []
    fronts = _true_fronts(recipe, labels_root)
    for sample in test:
        prediction = model.predict(sample["image"], test.bands)
        predicted.append(prediction.classes)
        truth.append(sample["label"])
        if fronts is not None:
            pairs.append(_front_pair(sample, prediction, model, fronts, recipe.grid.resolution))
    if not predicted:
        raise InferenceError(f"the test split of {test.url} ({test.sensor}) holds no chip")
    pred, true = np.stack(predicted), np.stack(truth)
    per_class = class_iou(pred, true, values, nodata=LABEL_NODATA)
    names = {int(c["value"]): c["name"] for c in test.classes}
    metrics: dict[str, Any] = {
        "test_chips": len(predicted),
        "overall_accuracy": overall_accuracy(pred, true, nodata=LABEL_NODATA),
        "mean_iou": mean_iou(pred, true, values, nodata=LABEL_NODATA),
        "iou": {names[v]: score for v, score in per_class.items()},
    }
    if fronts is not None:
        errors = mean_distance_error_many(
            [p for p in pairs if p is not None], spacing_m=recipe.grid.resolution
        )
        metrics |= {
            "front_mde_m": errors.mde_m,
            "front_mde_px": None if errors.mde_m is None else errors.mde_m / recipe.grid.resolution,
            "fronts_evaluated": errors.n_fronts,
            "fronts_missing": errors.n_missing,
            "fronts_spurious": errors.n_spurious,
        }
    if len(values) == 2:
        scores = precision_recall_f1(pred, true, positive=max(values), nodata=LABEL_NODATA)
        metrics |= {"precision": scores.precision, "recall": scores.recall, "f1": scores.f1}
    return _finite(metrics)


def _true_fronts(recipe: Recipe, labels_root: str | None) -> pd.DataFrame | None:
    """The recipe's line labels (true fronts) with parsed dates, or None for a benchmark without lines."""
    labels = recipe.labels
    sources = [s for s in labels.sources if s.kind == "lines"] if labels else []
    if not sources:
        return None
    source = sources[0]
    frame = read_labels(resolve_href(source.href, labels_root))
    frame["_date"] = pd.to_datetime(frame[source.date_field], utc=True) if source.date_field else pd.NaT
    frame["_aoi"] = frame[source.aoi_field].astype(str).str.lower() if source.aoi_field else ""
    return frame


def _front_pair(sample, prediction, model, fronts: pd.DataFrame, resolution: float):
    """(predicted front, true front) of one test chip, both in the chip's CRS; None without a true front."""
    when = pd.Timestamp(sample["time"]).tz_localize("UTC")
    rows = fronts[
        (fronts["_aoi"] == str(sample["aoi"]).lower())
        & ((fronts["_date"] - when).abs() <= pd.Timedelta(days=1))
    ]
    bounds = tuple(float(b) for b in sample["bounds"])
    box = shapely.box(*bounds)
    to_chip = pyproj.Transformer.from_crs(fronts.crs, int(sample["epsg"]), always_xy=True).transform
    truth = [shapely.transform(g, to_chip, interleaved=False).intersection(box) for g in rows.geometry]
    truth = [g for g in truth if not g.is_empty and g.length > 0]
    if not truth:
        return None
    grid = GridSpec(int(sample["epsg"]), resolution, bounds)
    zones = zone_map(prediction.probabilities, model.class_values, prediction.classes == LABEL_NODATA)
    found = extract_front(zones, grid)
    return (found.line if found.found else None, shapely.union_all(truth))


def _write_collection(staging: Path, recipe: Recipe, trained: list[TrainedModel]) -> None:
    collection = {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "id": baselines_id(recipe),
        "title": f"Baseline models of {recipe.title}",
        "description": (
            f"Pre-trained baselines of the benchmark {recipe.id}, as ONNX files described with the MLM "
            "extension, evaluated on its test split (metrics in each item)."
        ),
        "license": recipe.license,
        "extent": {
            "spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]]},
            "temporal": {"interval": [[dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), None]]},
        },
        "links": [
            *publish.collection_tree_links(),
            {
                "rel": "related",
                "href": f"../{recipe.id}/collection.json",
                "type": publish.JSON_TYPE,
                "title": "training data",
            },
            *(publish.item_link(m.model_id) for m in trained),
        ],
    }
    (staging / "collection.json").write_text(json.dumps(collection, indent=2))


def _finite(value: Any) -> Any:
    """NaN (undefined metric) -> None, recursively, so that the JSON is valid."""
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value)}")
