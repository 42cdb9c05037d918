"""STAC Items describing models with the Machine Learning Model (MLM) extension, as plain dicts.

:func:`mlm_item` describes any ONNX model (the classical baseline or a U-Net): inputs with their bands and
value scaling, outputs with their classes, the ONNX asset with size and checksum, a ``derived_from`` link
to the benchmark collection it was trained on, and the evaluation metrics in ``ml4earth:metrics``.
:func:`pixel_model_item` fills it from a per-pixel model exported by
:func:`ml4earth_stac.inference.classical.export_onnx` (whose input is physical bands turned into features,
so ``value_scaling`` is null and the feature computation is the pre-processing function).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ml4earth_stac.errors import StacError
from ml4earth_stac.inference.classical import INPUT_NAME, LABEL_OUTPUT, PROBABILITIES_OUTPUT
from ml4earth_stac.inference.runtime import DEFAULT_BATCH_PIXELS, OnnxPixelModel
from ml4earth_stac.stac.build import EXT, STAC_VERSION
from ml4earth_stac.stac.files import multihash_sha256

MLM_VERSION: Final = "1.5.2"
MLM_EXTENSION: Final = f"https://stac-extensions.github.io/mlm/v{MLM_VERSION}/schema.json"
CLASSIFICATION_EXTENSION: Final = "https://stac-extensions.github.io/classification/v1.1.0/schema.json"
ONNX_MEDIA_TYPE: Final = "application/octet-stream; framework=onnx"
MODEL_ASSET: Final = "model"
METRICS_FIELD: Final = "ml4earth:metrics"
MLM_NAME_PATTERN: Final = re.compile(r"^[a-zA-Z][a-zA-Z0-9_.\-\s]+[a-zA-Z0-9]$")
ARCHITECTURES: Final = {"hgb": "HistGradientBoosting decision trees", "rf": "Random forest"}
FEATURES_ENTRYPOINT: Final = "ml4earth_stac.inference.features:FeatureSpec.compute"


@dataclass(frozen=True)
class ModelOutput:
    """One output tensor of a model (an MLM ``Model Output Object``).

    Attributes:
        name: the output name in the model graph.
        shape: its shape, -1 for a variable size.
        dim_order: the name of each dimension.
        data_type: e.g. ``int64``, ``float32``.
        description: what it holds.
    """

    name: str
    shape: tuple[int, ...]
    dim_order: tuple[str, ...]
    data_type: str
    description: str


def pixel_outputs(n_classes: int) -> tuple[ModelOutput, ...]:
    """The outputs of an exported per-pixel classifier: class values and class probabilities."""
    return (
        ModelOutput(LABEL_OUTPUT, (-1,), ("batch",), "int64", "class value of each pixel"),
        ModelOutput(
            PROBABILITIES_OUTPUT,
            (-1, n_classes),
            ("batch", "class"),
            "float32",
            "probability of each class (in classification:classes order) for each pixel",
        ),
    )


def mlm_item(
    model_path: Path,
    *,
    model_id: str,
    benchmark_collection_href: str,
    bands: Sequence[str],
    feature_names: Sequence[str | Mapping[str, Any]],
    classes: Sequence[Mapping[str, Any]],
    normalization: Mapping[str, Any] | None,
    metrics: Mapping[str, Any],
    architecture: str,
    framework: str = "scikit-learn",
    framework_version: str | None = None,
    tasks: Sequence[str] = ("classification", "semantic-segmentation"),
    common_names: Sequence[str | None] | None = None,
    input_name: str = INPUT_NAME,
    input_shape: Sequence[int] | None = None,
    dim_order: Sequence[str] = ("batch", "bands"),
    outputs: Sequence[ModelOutput] | None = None,
    pre_processing: Mapping[str, Any] | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    description: str | None = None,
    created: dt.datetime | None = None,
    asset_href: str | None = None,
    batch_size_suggestion: int = DEFAULT_BATCH_PIXELS,
) -> dict[str, Any]:
    """A STAC 1.1 Item (MLM v1.5.2) describing one ONNX model.

    Args:
        model_path: the ONNX file (read for ``file:size`` and ``file:checksum``).
        model_id: the item id and ``mlm:name``.
        benchmark_collection_href: the training data: the benchmark collection (``derived_from`` link).
        bands: the sensor bands the model reads (item ``bands``), in order.
        feature_names: the entries of the input's ``bands`` axis, in order: band names, or MLM band objects
            (``name``, ``format``, ``expression``) for derived ones.
        classes: ``{"value", "name"[, "description"]}`` in the order of the class axis of the outputs.
        normalization: the benchmark's train statistics (``mean``, ``std``, optional ``bands``) when the
            model takes z-scored bands (gives ``value_scaling``); None when it takes physical values.
        metrics: evaluation figures (JSON values; non-finite numbers are written as null).
        architecture: ``mlm:architecture``, e.g. ``U-Net``.
        framework: ``mlm:framework`` of the training framework.
        framework_version: its version (semver).
        tasks: ``mlm:tasks``.
        common_names: eo common names of ``bands`` (None entries are left out).
        input_name: the input name in the ONNX graph.
        input_shape: default ``[-1, len(feature_names)]`` (a batch of pixels).
        dim_order: names of the input dimensions.
        outputs: default :func:`pixel_outputs`.
        pre_processing: an MLM processing expression (``format``, ``expression``, ``description``).
        hyperparameters: ``mlm:hyperparameters``.
        description: the item description.
        created: the item ``datetime`` (default: now, UTC).
        asset_href: the model asset href (default: the file name, relative to the item).
        batch_size_suggestion: ``mlm:batch_size_suggestion``: pixels for a per-pixel model, chips for an
            image model.

    Raises:
        StacError: an invalid ``model_id``, a missing model file, or normalization lacking a band.
    """
    model_path = _checked(model_id, model_path)
    shape = [int(n) for n in input_shape] if input_shape is not None else [-1, len(feature_names)]
    model_input = {
        "name": input_name,
        "bands": [name if isinstance(name, str) else dict(name) for name in feature_names],
        "input": {"shape": shape, "dim_order": list(dim_order), "data_type": "float32"},
        "value_scaling": _value_scaling(feature_names, normalization),
        "pre_processing_function": dict(pre_processing) if pre_processing else None,
    }
    class_objects = [_class_object(c) for c in classes]
    band_objects = _band_objects(bands, common_names)
    output_objects = [_output_object(o, tasks, class_objects) for o in outputs or pixel_outputs(len(classes))]
    properties = {
        "datetime": _timestamp(created),
        "description": description or f"{architecture} model {model_id}",
        "bands": band_objects,
        **_mlm_fields(model_id, architecture, tasks, framework, framework_version, hyperparameters),
        "mlm:batch_size_suggestion": batch_size_suggestion,
        "mlm:input": [model_input],
        "mlm:output": output_objects,
        METRICS_FIELD: _json_ready(dict(metrics)),
    }
    extensions = [MLM_EXTENSION, CLASSIFICATION_EXTENSION, EXT["file"]]
    extensions += [EXT["eo"]] if any("eo:common_name" in band for band in band_objects) else []
    link = {"rel": "derived_from", "href": benchmark_collection_href, "type": "application/json"}
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": extensions,
        "id": model_id,
        "geometry": None,
        "properties": properties,
        "links": [{**link, "title": "training data: the benchmark collection (train split)"}],
        "assets": {MODEL_ASSET: _model_asset(model_path, asset_href, architecture, band_objects)},
    }


def _checked(model_id: str, model_path: Path) -> Path:
    if not MLM_NAME_PATTERN.match(model_id):
        raise StacError(
            f"model id {model_id!r} is not a valid mlm:name: 3 characters or more, letters, digits, "
            f"'_', '.', '-' and spaces, starting with a letter and ending with a letter or digit"
        )
    if not Path(model_path).is_file():
        raise StacError(f"no model file at {model_path}; export the model before describing it")
    return Path(model_path)


def pixel_model_item(
    model_path: Path,
    *,
    model_id: str,
    benchmark_collection_href: str,
    metrics: Mapping[str, Any],
    hyperparameters: Mapping[str, Any] | None = None,
    created: dt.datetime | None = None,
) -> dict[str, Any]:
    """The MLM item of a per-pixel model exported by :func:`~ml4earth_stac.inference.classical.export_onnx`.

    Bands, features (with their expressions), classes and the architecture come from the ONNX metadata.

    Raises:
        StacError, InferenceError: see :func:`mlm_item` and :class:`OnnxPixelModel`.
    """
    import sklearn

    model = OnnxPixelModel(model_path)
    spec, expressions = model.spec, model.spec.expressions()
    features: list[str | Mapping[str, Any]] = [*spec.bands]
    features += [{"name": i, "format": "python", "expression": expressions[i]} for i in spec.indices]
    pre_processing = {
        "format": "python",
        "expression": FEATURES_ENTRYPOINT,
        "description": (
            f"per pixel, from physical values (reflectance, no scaling) of bands {list(spec.bands)}: the "
            f"features {list(spec.feature_names)} (the bands, then the indices given by each band's "
            "expression); pixels where any band is NaN are not passed to the model and get class 255"
        ),
    }
    return mlm_item(
        model_path,
        model_id=model_id,
        benchmark_collection_href=benchmark_collection_href,
        bands=spec.bands,
        feature_names=features,
        classes=model.classes,
        normalization=None,
        metrics=metrics,
        architecture=ARCHITECTURES.get(model.kind or "", "decision trees"),
        framework_version=sklearn.__version__,
        common_names=spec.common_names,
        pre_processing=pre_processing,
        hyperparameters=hyperparameters,
        created=created,
    )


def _value_scaling(
    feature_names: Sequence[str | Mapping[str, Any]], normalization: Mapping[str, Any] | None
) -> list[dict[str, Any]] | None:
    """z-score per input band from the train statistics (None mean -> 0, None or 0 std -> 1, as loaded)."""
    if normalization is None:
        return None
    names = [name if isinstance(name, str) else str(name["name"]) for name in feature_names]
    order = list(normalization.get("bands") or names)
    missing = [name for name in names if name not in order]
    if missing:
        raise StacError(f"the normalization statistics (bands {order}) lack input bands {missing}")
    scaling = []
    for name in names:
        mean, std = normalization["mean"][order.index(name)], normalization["std"][order.index(name)]
        scaling.append({"type": "z-score", "mean": float(mean or 0.0), "stddev": float(std or 1.0)})
    return scaling


def _band_objects(bands: Sequence[str], common_names: Sequence[str | None] | None) -> list[dict[str, Any]]:
    names = list(common_names) if common_names is not None else [None] * len(bands)
    return [{"name": b, **({"eo:common_name": c} if c else {})} for b, c in zip(bands, names, strict=True)]


def _class_object(entry: Mapping[str, Any]) -> dict[str, Any]:
    name = str(entry["name"])
    return {"value": int(entry["value"]), "name": name, "description": str(entry.get("description") or name)}


def _output_object(
    output: ModelOutput, tasks: Sequence[str], classes: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "name": output.name,
        **({"description": output.description} if output.description else {}),
        "tasks": list(tasks),
        "result": {
            "shape": list(output.shape),
            "dim_order": list(output.dim_order),
            "data_type": output.data_type,
        },
        "classification:classes": classes,
    }


def _mlm_fields(
    model_id: str,
    architecture: str,
    tasks: Sequence[str],
    framework: str,
    framework_version: str | None,
    hyperparameters: Mapping[str, Any] | None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "mlm:name": model_id,
        "mlm:architecture": architecture,
        "mlm:tasks": list(tasks),
        "mlm:framework": framework,
        "mlm:pretrained": False,
        "mlm:pretrained_source": None,
        "mlm:accelerator": "amd64",
        "mlm:accelerator_constrained": False,
    }
    if framework_version:
        fields["mlm:framework_version"] = framework_version
    if hyperparameters:
        fields["mlm:hyperparameters"] = _json_ready(dict(hyperparameters))
    return fields


def _model_asset(
    path: Path, href: str | None, architecture: str, bands: list[dict[str, Any]]
) -> dict[str, Any]:
    """The ONNX asset; it repeats the item's bands (STAC 1.1 allows item bands only beside asset bands)."""
    return {
        "href": href or path.name,
        "type": ONNX_MEDIA_TYPE,
        "title": f"{architecture} model (ONNX, run with onnxruntime)",
        "roles": ["mlm:model", "model", "data"],
        "mlm:artifact_type": "onnx",
        "file:size": path.stat().st_size,
        "file:checksum": multihash_sha256(path),
        "bands": bands,
    }


def _timestamp(when: dt.datetime | None) -> str:
    when = when or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        raise StacError(f"created must be timezone-aware, got {when!r}")
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_ready(value: Any) -> Any:
    """Plain JSON values: numpy scalars to Python, non-finite floats to None, tuples to lists."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, str):  # numpy scalars and arrays
        return _json_ready(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
