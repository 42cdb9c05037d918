"""Run an exported U-Net with onnxruntime only (no torch): z-score the bands, pad, softmax, unpad.

The ONNX file carries what inference needs as metadata (written by :func:`annotate_unet_onnx` after
:func:`~ml4earth_stac.inference.unet.export_unet_onnx`): the band names, the train-split mean and std of
each band, and the classes. :class:`OnnxUnetModel` has the interface of
:class:`~ml4earth_stac.inference.runtime.OnnxPixelModel` (``bands``, ``class_values``, ``halo``,
``check_bands``, ``predict``), so the batch inference runs either.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import onnx

from ml4earth_stac.inference.runtime import PixelPrediction, band_positions, open_session

META_BANDS: Final = "ml4earth:bands"
META_MEAN: Final = "ml4earth:mean"
META_STD: Final = "ml4earth:std"
META_CLASSES: Final = "ml4earth:classes"
META_CLASS_VALUES: Final = "ml4earth:class_values"
MULTIPLE: Final = 8  # input sizes must be multiples of 2**depth (depth 3)
HALO_PX: Final = 32  # context a tile needs so that its predictions match a whole-image run closely


def annotate_unet_onnx(
    path: Path, bands: Sequence[str], normalization: Mapping[str, Any], classes: Sequence[Mapping[str, Any]]
) -> Path:
    """Add the bands, their train mean/std and the classes to an exported U-Net's ONNX metadata."""
    model = onnx.load(str(path))
    mean, std = _statistics(bands, normalization)
    entries = {
        META_BANDS: json.dumps(list(bands)),
        META_MEAN: json.dumps(mean.tolist()),
        META_STD: json.dumps(std.tolist()),
        META_CLASSES: json.dumps([{"value": int(c["value"]), "name": str(c["name"])} for c in classes]),
    }
    kept = [p for p in model.metadata_props if p.key not in entries]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in entries.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


def is_unet_onnx(path: Path) -> bool:
    """Whether an ONNX file is an annotated U-Net (told by its metadata, not its name).

    A missing or unreadable file gives False: the model class then raises its usual, clear error.
    """
    try:
        keys = {prop.key for prop in onnx.load(str(path), load_external_data=False).metadata_props}
    except Exception:  # noqa: BLE001 - missing file, protobuf decode errors: the loader reports them
        return False
    return META_BANDS in keys


def _statistics(bands: Sequence[str], normalization: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    order = list(normalization.get("bands") or bands)
    mean = np.array([normalization["mean"][order.index(b)] or 0.0 for b in bands], dtype=np.float32)
    std = np.array([normalization["std"][order.index(b)] or 1.0 for b in bands], dtype=np.float32)
    return mean, np.where(std > 0, std, 1.0).astype(np.float32)


class OnnxUnetModel:
    """An exported, annotated U-Net applied to physical ``(band, y, x)`` images.

    Raises:
        InferenceError: the file is missing, not ONNX, or lacks the metadata of :func:`annotate_unet_onnx`.
    """

    kind: Final = "unet"
    halo: Final = HALO_PX

    def __init__(self, path: str | Path, *, threads: int = 0) -> None:
        self.path = Path(path)
        required = (META_BANDS, META_MEAN, META_STD, META_CLASSES, META_CLASS_VALUES)
        self.session, meta = open_session(self.path, threads, required, "annotate it with annotate_unet_onnx")
        self.bands: tuple[str, ...] = tuple(json.loads(meta[META_BANDS]))
        self.mean = np.asarray(json.loads(meta[META_MEAN]), dtype=np.float32)
        self.std = np.asarray(json.loads(meta[META_STD]), dtype=np.float32)
        self.classes: tuple[Mapping[str, Any], ...] = tuple(json.loads(meta[META_CLASSES]))
        self.class_values: tuple[int, ...] = tuple(int(v) for v in json.loads(meta[META_CLASS_VALUES]))
        self.input_name = self.session.get_inputs()[0].name

    def check_bands(self, band_names: Sequence[str]) -> tuple[int, ...]:
        """Positions of the model's bands in ``band_names``; raises InferenceError naming any missing band."""
        return band_positions(self.path.name, self.bands, band_names)

    def predict(self, image: np.ndarray, band_names: Sequence[str]) -> PixelPrediction:
        """Classes ``(y, x)`` (255 where any band is NaN) and probabilities ``(class, y, x)`` (NaN there)."""
        positions = self.check_bands(band_names)
        bands = np.asarray(image, dtype=np.float32)[list(positions)]
        nodata = ~np.isfinite(bands).all(axis=0)
        scaled = np.nan_to_num((bands - self.mean[:, None, None]) / self.std[:, None, None], nan=0.0)
        height, width = scaled.shape[1:]
        pad = ((0, 0), (0, -height % MULTIPLE), (0, -width % MULTIPLE))
        padded = np.pad(scaled, pad, mode="reflect" if min(height, width) > MULTIPLE else "edge")
        (logits,) = self.session.run(None, {self.input_name: padded[np.newaxis]})
        logits = logits[0, :, :height, :width]
        exp = np.exp(logits - logits.max(axis=0, keepdims=True))
        probabilities = (exp / exp.sum(axis=0, keepdims=True)).astype(np.float32)
        probabilities[:, nodata] = np.nan
        classes = np.asarray(self.class_values, dtype=np.uint8)[
            np.argmax(np.nan_to_num(probabilities, nan=-1), 0)
        ]
        classes[nodata] = 255
        return PixelPrediction(classes, probabilities)
