"""The fast classical baseline: a per-pixel gradient-boosting (or random-forest) model, exported to ONNX.

Training streams the chips once, computes the features of :mod:`ml4earth_stac.inference.features` from the
*physical* bands (open the :class:`~ml4earth_stac.store.dataset.ChipDataset` with ``normalize=False``),
and keeps a seeded, class-stratified sample of labelled valid pixels: at most ``max_pixels //
n_classes`` per class, uniform within the class (bottom-k of seeded random keys, so memory stays bounded
whatever the size of the split). Sample weights (pixels seen / pixels kept, per class) restore the true
class frequencies, so capping a common class does not bias the model towards rare ones.

The ONNX model (:func:`export_onnx`) takes ``features`` float32 ``[N, n_features]`` (one row per pixel,
the features of the spec in order, no scaling) and gives ``label`` int64 ``[N]`` (class values) and
``probabilities`` float32 ``[N, n_classes]`` (columns in ``ml4earth:class_values`` order). Its metadata
holds the feature spec and the classes, which :class:`~ml4earth_stac.inference.runtime.OnnxPixelModel`
reads to compute the same features and to check the bands before any compute.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

import numpy as np
from threadpoolctl import threadpool_limits

from ml4earth_stac.inference.features import (
    DEFAULT_INDICES,
    FeatureSpec,
    InferenceError,
    make_feature_spec,
)

LABEL_NODATA: Final = 255
INPUT_NAME: Final = "features"
LABEL_OUTPUT: Final = "label"
PROBABILITIES_OUTPUT: Final = "probabilities"
TARGET_OPSET: Final = MappingProxyType({"": 17, "ai.onnx.ml": 3})
META_SPEC: Final = "ml4earth:feature_spec"
META_CLASSES: Final = "ml4earth:classes"
META_CLASS_VALUES: Final = "ml4earth:class_values"
META_MODEL: Final = "ml4earth:model"
HGB_PARAMS: Final = MappingProxyType(
    {"max_iter": 60, "learning_rate": 0.15, "max_leaf_nodes": 31, "early_stopping": False}
)
RF_PARAMS: Final = MappingProxyType({"n_estimators": 40, "max_depth": 10, "min_samples_leaf": 4})

ModelKind = Literal["hgb", "rf"]


@dataclass(frozen=True)
class PixelClassifier:
    """A trained per-pixel classifier and everything needed to export and describe it.

    Attributes:
        estimator: the fitted scikit-learn classifier.
        spec: the features it takes.
        classes: ``{"value", "name"[, "description"]}`` per class, in probability-column order
            (the classes that had training pixels).
        kind: ``hgb`` (HistGradientBoosting) or ``rf`` (RandomForest).
        seed: the seed of sampling and fitting.
        hyperparameters: the estimator's parameters (JSON values only).
        pixels_seen: labelled valid pixels per class value in the training split.
        pixels_used: the sampled pixels per class value.
        unknown_label_pixels: pixels whose label is neither a class value nor 255 (ignored).
        absent_classes: declared class values with no labelled valid pixel (the model cannot predict them).
        seconds: wall time of sampling plus fitting.
    """

    estimator: Any
    spec: FeatureSpec
    classes: tuple[Mapping[str, Any], ...]
    kind: ModelKind
    seed: int
    hyperparameters: Mapping[str, Any]
    pixels_seen: Mapping[int, int]
    pixels_used: Mapping[int, int]
    unknown_label_pixels: int
    absent_classes: tuple[int, ...]
    seconds: float

    @property
    def class_values(self) -> tuple[int, ...]:
        """The class values, in probability-column order."""
        return tuple(int(c["value"]) for c in self.classes)


def train_pixel_classifier(
    train: Iterable[Mapping[str, Any]],
    band_names: Sequence[str],
    classes: Sequence[Mapping[str, Any]],
    *,
    common_names: Sequence[str | None] | None = None,
    indices: Sequence[str] = DEFAULT_INDICES,
    max_pixels: int = 200_000,
    seed: int = 0,
    model: ModelKind = "hgb",
    threads: int = 1,
) -> PixelClassifier:
    """Sample labelled valid pixels of a training split and fit a per-pixel classifier.

    Args:
        train: samples with ``image`` (physical ``(band, y, x)``, NaN = nodata) and ``label`` (``(y, x)``
            uint8, 255 = no label), e.g. ``ChipDataset(store, "train", sensor, normalize=False)``.
        band_names: the bands of ``image``, in order.
        classes: ``[{"value": int, "name": str}, ...]`` (e.g. ``ChipDataset.classes``).
        common_names: eo common names of the bands (default: from Sentinel-2/Landsat band names).
        indices: derived features (see :mod:`ml4earth_stac.inference.features`).
        max_pixels: at most this many training pixels in all (``max_pixels // n_classes`` per class).
        seed: seeds the pixel sample and the estimator: the same seed and data give the same model.
        model: ``hgb`` (HistGradientBoostingClassifier) or ``rf`` (RandomForestClassifier).
        threads: OpenMP/joblib threads for fitting (1 is fastest on a busy machine and deterministic).

    Raises:
        InferenceError: normalized input, bad arguments, unusable features, or fewer than two classes
            with labelled pixels.
    """
    started = time.perf_counter()
    spec = make_feature_spec(band_names, common_names, indices)
    values = _check_arguments(train, classes, max_pixels, model)
    reservoir = _Reservoir(values, max(1, max_pixels // len(values)), np.random.default_rng(seed))
    for sample in train:
        reservoir.add(spec.compute(sample["image"]), np.asarray(sample["label"]))
    features, labels, weights = reservoir.result()
    present = sorted(v for v in values if reservoir.seen[v])
    if len(present) < 2:
        raise InferenceError(f"need labelled valid pixels of two classes or more; found classes {present}")
    estimator = _estimator(model, seed, threads)
    with threadpool_limits(threads):
        estimator.fit(features, labels, sample_weight=weights)
    by_value = {int(c["value"]): c for c in classes}
    return PixelClassifier(
        estimator=estimator,
        spec=spec,
        classes=tuple(MappingProxyType(dict(by_value[int(v)])) for v in estimator.classes_),
        kind=model,
        seed=seed,
        hyperparameters=MappingProxyType(_json_params(estimator.get_params())),
        pixels_seen=MappingProxyType({v: reservoir.seen[v] for v in present}),
        pixels_used=MappingProxyType({v: int((labels == v).sum()) for v in present}),
        unknown_label_pixels=reservoir.unknown,
        absent_classes=tuple(v for v in values if not reservoir.seen[v]),
        seconds=time.perf_counter() - started,
    )


def export_onnx(classifier: PixelClassifier, path: Path, *, name: str = "ml4earth_pixel_classifier") -> Path:
    """Write the classifier as ONNX (same classifier, same bytes), with its spec and classes as metadata.

    Args:
        classifier: from :func:`train_pixel_classifier`.
        path: the ``.onnx`` file to write (replaced atomically).
        name: the ONNX graph name.

    Returns:
        The path written.

    Raises:
        InferenceError: skl2onnx cannot convert the estimator.
    """
    proto = _convert(classifier, name)
    proto.doc_string = "per-pixel classifier; input: the features of " + classifier.spec.to_json()
    metadata = {
        META_SPEC: classifier.spec.to_json(),
        META_CLASSES: json.dumps([dict(c) for c in classifier.classes]),
        META_CLASS_VALUES: json.dumps(list(classifier.class_values)),
        META_MODEL: classifier.kind,
    }
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(proto.SerializeToString())
    os.replace(partial, path)
    return path


def _convert(classifier: PixelClassifier, name: str) -> Any:
    """The skl2onnx ModelProto: ``features`` in, ``label`` and ``probabilities`` (a tensor, no zipmap) out."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    n_features = len(classifier.spec.feature_names)
    try:
        with warnings.catch_warnings():
            # skl2onnx 1.20 passes booleans where protobuf wants ints: a DeprecationWarning under
            # protobuf 6, an error under protobuf 7 (hence the pin protobuf<7)
            warnings.filterwarnings("ignore", "Field onnx.AttributeProto.ints", DeprecationWarning)
            return convert_sklearn(
                classifier.estimator,
                name=name,  # fixed: skl2onnx would otherwise name the graph with a random uuid
                initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
                options={id(classifier.estimator): {"zipmap": False}},
                target_opset=dict(TARGET_OPSET),
            )
    except Exception as exc:  # skl2onnx raises many kinds (RuntimeError, TypeError, ...)
        raise InferenceError(f"cannot export the {classifier.kind} classifier to ONNX: {exc}") from exc


class _Reservoir:
    """A seeded, bounded, per-class uniform sample of pixel features (bottom-k of random keys)."""

    def __init__(self, values: Sequence[int], quota: int, rng: np.random.Generator) -> None:
        self.quota, self.rng, self.unknown = quota, rng, 0
        self.seen = dict.fromkeys(values, 0)
        self.kept: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def add(self, features: np.ndarray, label: np.ndarray) -> None:
        if label.shape != features.shape[1:]:
            raise InferenceError(f"label shape {label.shape} differs from image shape {features.shape[1:]}")
        valid = np.isfinite(features).all(axis=0)
        known = np.isin(label, list(self.seen))
        self.unknown += int((valid & ~known & (label != LABEL_NODATA)).sum())
        for value in self.seen:
            rows = features[:, valid & (label == value)].T
            if not len(rows):
                continue
            self.seen[value] += len(rows)
            keys = self.rng.random(len(rows))
            if value in self.kept:
                old_rows, old_keys = self.kept[value]
                rows, keys = np.concatenate([old_rows, rows]), np.concatenate([old_keys, keys])
            if len(keys) > self.quota:
                keep = np.argpartition(keys, self.quota - 1)[: self.quota]
                rows, keys = rows[keep], keys[keep]
            self.kept[value] = (rows, keys)

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(features ``[N, F]``, labels ``[N]``, weights ``[N]``), ordered by class then key."""
        parts = []
        for value in sorted(self.kept):
            rows, keys = self.kept[value]
            order = np.argsort(keys, kind="stable")
            weight = self.seen[value] / len(rows)
            parts.append((rows[order], np.full(len(rows), value), np.full(len(rows), weight)))
        if not parts:
            raise InferenceError("the training split holds no labelled valid pixel")
        features, labels, weights = (np.concatenate(column) for column in zip(*parts, strict=True))
        return np.ascontiguousarray(features, dtype="float32"), labels.astype("int64"), weights


def _check_arguments(
    train: Iterable[Mapping[str, Any]], classes: Sequence[Mapping[str, Any]], max_pixels: int, model: str
) -> list[int]:
    if getattr(train, "normalize", False):
        raise InferenceError(
            "the training chips are normalized; indices need physical values: open the ChipDataset "
            "with normalize=False"
        )
    if model not in ("hgb", "rf"):
        raise InferenceError(f"unknown model {model!r}; use hgb (gradient boosting) or rf (random forest)")
    values = [int(c["value"]) for c in classes]
    if len(set(values)) != len(values) or not all(0 <= v < LABEL_NODATA for v in values):
        raise InferenceError(f"class values must be distinct and in 0..254; got {values}")
    if len(values) < 2 or max_pixels < len(values):
        raise InferenceError(f"need two classes or more and max_pixels >= {len(values)}; got {max_pixels}")
    return values


def _estimator(model: ModelKind, seed: int, threads: int) -> Any:
    if model == "rf":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(**RF_PARAMS, random_state=seed, n_jobs=threads)
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(**HGB_PARAMS, random_state=seed)


def _json_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters whose values are JSON scalars (MLM ``mlm:hyperparameters``)."""
    return {k: v for k, v in params.items() if v is None or isinstance(v, bool | int | float | str)}
