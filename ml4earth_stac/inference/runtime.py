"""Run an exported per-pixel ONNX model with onnxruntime only (torch is never imported here).

:class:`OnnxPixelModel` reads the feature spec and classes from the model's metadata (written by
:func:`ml4earth_stac.inference.classical.export_onnx`), checks the bands of an image before any compute,
computes the features in row strips (with the texture halo, so the result equals whole-image features)
and runs the model on the valid pixels only, a bounded number at a time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, NamedTuple

import numpy as np
import onnxruntime as ort

from ml4earth_stac.inference.classical import (
    LABEL_NODATA,
    META_CLASS_VALUES,
    META_CLASSES,
    META_MODEL,
    META_SPEC,
)
from ml4earth_stac.inference.features import FeatureSpec, InferenceError

__all__ = ["DEFAULT_BATCH_PIXELS", "InferenceError", "OnnxPixelModel", "PixelPrediction"]

DEFAULT_BATCH_PIXELS: Final = 262_144


class PixelPrediction(NamedTuple):
    """The prediction of one image.

    Attributes:
        classes: ``(y, x)`` uint8 class values, 255 where any input band is NaN.
        probabilities: ``(class, y, x)`` float32 in :attr:`OnnxPixelModel.class_values` order, NaN there.
    """

    classes: np.ndarray
    probabilities: np.ndarray


def open_session(
    path: Path, threads: int, required: Sequence[str], fix: str
) -> tuple[ort.InferenceSession, Mapping[str, str]]:
    """An onnxruntime CPU session of an exported model and its ml4earth metadata.

    Args:
        path: the ``.onnx`` file.
        threads: onnxruntime intra-op threads (0: onnxruntime's default, all cores).
        required: metadata keys the model must carry.
        fix: what to do when one is missing (the error says it).

    Raises:
        InferenceError: the file is missing, not ONNX, or lacks a required metadata key.
    """
    if not path.is_file():
        raise InferenceError(f"no ONNX model at {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise InferenceError(f"onnxruntime cannot load {path}: {exc}") from exc
    metadata = session.get_modelmeta().custom_metadata_map
    missing = [key for key in required if key not in metadata]
    if missing:
        raise InferenceError(f"{path} lacks metadata {missing}: {fix}")
    return session, metadata


def band_positions(model_name: str, expected: Sequence[str], band_names: Sequence[str]) -> tuple[int, ...]:
    """The position in ``band_names`` of each band a model expects (any order; extra bands ignored).

    Raises:
        InferenceError: a band the model expects is missing (the message names expected and given).
    """
    given = [str(band) for band in band_names]
    missing = [band for band in expected if band not in given]
    if missing:
        raise InferenceError(
            f"model {model_name} expects bands {list(expected)} but the input has {given} "
            f"(missing {missing}); load those bands or use a model trained on these ones"
        )
    return tuple(given.index(band) for band in expected)


class OnnxPixelModel:
    """A per-pixel classifier in ONNX, applied to physical ``(band, y, x)`` images.

    Args:
        path: the ``.onnx`` file.
        batch_pixels: pixels per strip of features and per ``session.run`` (bounds memory).
        threads: onnxruntime intra-op threads (0: onnxruntime's default, all cores).

    Raises:
        InferenceError: the file is missing, not ONNX, or lacks the ml4earth metadata.
    """

    def __init__(
        self, path: str | Path, *, batch_pixels: int = DEFAULT_BATCH_PIXELS, threads: int = 0
    ) -> None:
        self.path = Path(path)
        if batch_pixels < 1:
            raise InferenceError(f"batch_pixels must be positive, got {batch_pixels}")
        self.batch_pixels = batch_pixels
        self.session, metadata = open_session(
            self.path,
            threads,
            (META_SPEC, META_CLASSES, META_CLASS_VALUES),
            "export it with ml4earth_stac.inference.classical.export_onnx",
        )
        self.spec = FeatureSpec.from_json(metadata[META_SPEC])
        self.classes: tuple[Mapping[str, Any], ...] = tuple(
            MappingProxyType(c) for c in json.loads(metadata[META_CLASSES])
        )
        self.class_values: tuple[int, ...] = tuple(int(v) for v in json.loads(metadata[META_CLASS_VALUES]))
        self.kind: str | None = metadata.get(META_MODEL)
        self.input_name = self.session.get_inputs()[0].name
        self._check_signature()

    @property
    def halo(self) -> int:
        """Pixels of context a tile needs (the features' window) to match a whole-image run exactly."""
        return self.spec.halo

    @property
    def bands(self) -> tuple[str, ...]:
        """The band names the model expects (any order in the image; extra bands are ignored)."""
        return self.spec.bands

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The features the ONNX graph takes, in order."""
        return self.spec.feature_names

    def check_bands(self, band_names: Sequence[str]) -> tuple[int, ...]:
        """The position in ``band_names`` of each band the model expects; call it before any compute.

        Raises:
            InferenceError: a band the model expects is missing (the message names expected and given).
        """
        return band_positions(self.path.name, self.bands, band_names)

    def predict(self, image: np.ndarray, band_names: Sequence[str]) -> PixelPrediction:
        """Classify every pixel of a physical ``(band, y, x)`` image (NaN = nodata).

        Args:
            image: physical values (reflectance, not normalized), one plane per name in ``band_names``.
            band_names: the band of each plane; must include :attr:`bands` (checked first).

        Raises:
            InferenceError: missing bands or an image whose shape does not match ``band_names``.
        """
        positions = self.check_bands(band_names)
        if np.ndim(image) != 3 or np.shape(image)[0] != len(band_names):
            raise InferenceError(
                f"expected a (band, y, x) image with {len(band_names)} bands, got shape {np.shape(image)}"
            )
        image = np.asarray(image)[list(positions)]
        height, width = image.shape[1:]
        classes = np.full((height, width), LABEL_NODATA, dtype="uint8")
        probabilities = np.full((len(self.class_values), height, width), np.nan, dtype="float32")
        rows = max(1, self.batch_pixels // max(width, 1))
        for top in range(0, height, rows):
            bottom = min(top + rows, height)
            self._predict_strip(image, top, bottom, classes, probabilities)
        return PixelPrediction(classes, probabilities)

    def predict_features(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the graph on ``[N, n_features]`` finite features: (labels int64 ``[N]``, probabilities)."""
        labels, probabilities = [], []
        for start in range(0, len(features), self.batch_pixels):
            batch = np.ascontiguousarray(features[start : start + self.batch_pixels], dtype="float32")
            label, probability = self.session.run(None, {self.input_name: batch})
            labels.append(label)
            probabilities.append(probability)
        if not labels:
            return np.empty(0, dtype="int64"), np.empty((0, len(self.class_values)), dtype="float32")
        return np.concatenate(labels), np.concatenate(probabilities)

    def _predict_strip(
        self, image: np.ndarray, top: int, bottom: int, classes: np.ndarray, probabilities: np.ndarray
    ) -> None:
        """Features of rows ``[top, bottom)`` (computed with the halo), then the model on valid pixels."""
        halo = self.spec.halo
        first, last = max(0, top - halo), min(image.shape[1], bottom + halo)
        features = self.spec.compute(image[:, first:last])[:, top - first : bottom - first]
        valid = np.isfinite(features).all(axis=0)
        if not valid.any():
            return
        labels, probability = self.predict_features(features[:, valid].T)
        classes[top:bottom][valid] = labels.astype("uint8")
        probabilities[:, top:bottom][:, valid] = probability.T

    def _check_signature(self) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        width = inputs[0].shape[-1] if len(inputs) == 1 and len(inputs[0].shape) == 2 else None
        if width != len(self.spec.feature_names) or len(outputs) != 2:
            raise InferenceError(
                f"{self.path} takes inputs {[(i.name, i.shape) for i in inputs]} and gives "
                f"{[o.name for o in outputs]}; expected one [N, {len(self.spec.feature_names)}] input and "
                "label + probabilities outputs"
            )
        if not all(0 <= v < LABEL_NODATA for v in self.class_values):
            raise InferenceError(f"{self.path} has class values {self.class_values} outside 0..254")
