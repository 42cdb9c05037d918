"""Per-pixel features of the classical baseline: the bands, spectral indices and a NIR texture.

One :class:`FeatureSpec` computes the features at training and at inference (the single source of truth);
its JSON travels inside the ONNX model, so a model always computes the features it was trained on.

Features, in order: the bands as given (physical values), then the chosen indices:

======== ================================== ===========================
name     formula (physical reflectance)     needs common names
======== ================================== ===========================
ndvi     (nir - red) / (nir + red)          nir (or nir08), red
ndwi     (green - nir) / (green + nir)      green, nir (or nir08)
ndsi     (green - swir16) / (green + swir16) green, swir16
nir_std5 std of nir in a 5 x 5 window        nir (or nir08)
======== ================================== ===========================

A normalized difference is clipped to [-1, 1] (negative BOA reflectance happens) and is 0 where both
inputs are 0. ``nir_std5`` is the population standard deviation over the valid pixels of the window
(clipped at the image edge), so a tile needs a halo of :data:`TEXTURE_HALO` pixels to match the whole
scene. A pixel where any band is NaN gets NaN in every feature. ``nir`` (Sentinel-2 B08) is preferred to
``nir08`` (Landsat B5, Sentinel-2 B8A, ASTER B3N).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import numpy as np

from ml4earth_stac.inference.fronts import InferenceError
from ml4earth_stac.sensors.sentinel2 import BANDS_BY_NAME as S2_BANDS

__all__ = [
    "DEFAULT_INDICES",
    "INDEX_INPUTS",
    "TEXTURE_HALO",
    "FeatureSpec",
    "InferenceError",
    "available_indices",
    "common_names_for",
    "compute_features",
    "local_std",
    "make_feature_spec",
    "normalized_difference",
]

FEATURES_VERSION: Final = 1
TEXTURE_SIZE: Final = 5
TEXTURE_HALO: Final = TEXTURE_SIZE // 2
NIR_NAMES: Final = ("nir", "nir08")
INDEX_INPUTS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"ndvi": ("nir", "red"), "ndwi": ("green", "nir"), "ndsi": ("green", "swir16"), "nir_std5": ("nir",)}
)
"""Index -> the common names of its inputs (``nir`` stands for ``nir`` or ``nir08``)."""
DEFAULT_INDICES: Final = tuple(INDEX_INPUTS)
EO_COMMON_NAMES: Final = frozenset(
    ("coastal", "blue", "green", "red", "yellow", "pan", "rededge", "nir", "nir08", "nir09", "cirrus")
    + ("swir16", "swir22", "lwir", "lwir11", "lwir12")
)
"""Band names that are themselves eo common names (Landsat bands are named so)."""
FUNCTION_PREFIX: Final = "ml4earth_stac.inference.features:"


def normalized_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(a - b) / (a + b)`` as float32, clipped to [-1, 1], 0 where ``a + b == 0``, NaN where an input is."""
    a, b = np.asarray(a, dtype="float32"), np.asarray(b, dtype="float32")
    total = a + b
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(total == 0, np.float32(0), (a - b) / total)
    return np.clip(ratio, -1, 1).astype("float32", copy=False)


def local_std(band: np.ndarray, size: int = TEXTURE_SIZE) -> np.ndarray:
    """Population standard deviation over the finite pixels of a ``size`` x ``size`` window (float32).

    Each window is differenced against its centre pixel before summing, so the result does not depend
    on where a tile starts and is exactly 0 on a constant image. NaN where the centre pixel is NaN.
    """
    band = np.asarray(band, dtype="float32")
    finite = np.isfinite(band)
    centre = np.where(finite, band, np.float32(0))
    half, (height, width) = size // 2, band.shape
    values, weights = np.pad(centre, half), np.pad(finite.astype("float32"), half)
    total, squares, count = (np.zeros(band.shape, dtype="float32") for _ in range(3))
    for dy in range(size):
        for dx in range(size):
            weight = weights[dy : dy + height, dx : dx + width]
            diff = (values[dy : dy + height, dx : dx + width] - centre) * weight
            total += diff
            squares += diff * diff
            count += weight
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / count
        variance = np.maximum(squares / count - mean * mean, np.float32(0))
    out = np.sqrt(variance, dtype="float32")
    out[~finite] = np.nan
    return out


def common_names_for(band_names: Sequence[str]) -> tuple[str | None, ...]:
    """Common names of Sentinel-2 band names (B02...) and of bands named by common name (Landsat).

    Other sensors (ASTER B01 is green, not coastal) must pass their common names explicitly, e.g. from
    the chip store's ``common_name`` band coordinate.
    """
    names: list[str | None] = []
    for band in band_names:
        if band in S2_BANDS:
            names.append(S2_BANDS[band].common_name)
        else:
            names.append(band if band in EO_COMMON_NAMES else None)
    return tuple(names)


@dataclass(frozen=True)
class FeatureSpec:
    """Which features a model takes, and how to compute them from a physical ``(band, y, x)`` image.

    Attributes:
        bands: the band names of the input image, in order.
        common_names: the eo common name of each band (None where it has none).
        indices: the derived features, in order (keys of :data:`INDEX_INPUTS`).
    """

    bands: tuple[str, ...]
    common_names: tuple[str | None, ...]
    indices: tuple[str, ...]

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The names of the features, in the order of the feature axis."""
        return (*self.bands, *self.indices)

    @property
    def halo(self) -> int:
        """Pixels of context a tile needs on each side to compute exactly the whole-scene features."""
        return TEXTURE_HALO if "nir_std5" in self.indices else 0

    def band_for(self, common_name: str) -> str:
        """The band of a common name (``nir`` falls back to ``nir08``).

        Raises:
            InferenceError: no band has that common name.
        """
        for wanted in NIR_NAMES if common_name == "nir" else (common_name,):
            if wanted in self.common_names:
                return self.bands[self.common_names.index(wanted)]
        raise InferenceError(f"no band with common name {common_name!r} in {self._described()}")

    def index_inputs(self, index: str) -> tuple[str, ...]:
        """The band names an index is computed from, in formula order."""
        return tuple(self.band_for(name) for name in INDEX_INPUTS[index])

    def expressions(self) -> dict[str, str]:
        """Index -> a Python entry point with band-name arguments (the MLM band ``expression``)."""
        out = {}
        for index in self.indices:
            inputs = self.index_inputs(index)
            call = f"local_std({inputs[0]}, size={TEXTURE_SIZE})" if index == "nir_std5" else None
            out[index] = FUNCTION_PREFIX + (call or f"normalized_difference({inputs[0]}, {inputs[1]})")
        return out

    def compute(self, image: np.ndarray) -> np.ndarray:
        """The ``(feature, y, x)`` float32 features of a physical ``(band, y, x)`` image, NaN where invalid.

        Raises:
            InferenceError: the image is not 3-D with one plane per band of the spec.
        """
        image = np.asarray(image, dtype="float32")
        if image.ndim != 3 or image.shape[0] != len(self.bands):
            raise InferenceError(
                f"expected a (band, y, x) image with {len(self.bands)} bands {list(self.bands)}, "
                f"got shape {image.shape}"
            )
        out = np.empty((len(self.feature_names), *image.shape[1:]), dtype="float32")
        out[: len(self.bands)] = image
        planes = dict(zip(self.bands, image, strict=True))
        for offset, index in enumerate(self.indices, start=len(self.bands)):
            out[offset] = _INDEX_FUNCTIONS[index](*(planes[band] for band in self.index_inputs(index)))
        out[:, ~np.isfinite(image).all(axis=0)] = np.nan
        return out

    def to_json(self) -> str:
        """The spec as JSON (stored in the ONNX model's metadata)."""
        fields = {"bands": self.bands, "common_names": self.common_names, "indices": self.indices}
        return json.dumps({"version": FEATURES_VERSION, **fields, "feature_names": self.feature_names})

    @classmethod
    def from_json(cls, text: str) -> FeatureSpec:
        """Read a spec written by :meth:`to_json`.

        Raises:
            InferenceError: not a spec, or one of a newer features version.
        """
        try:
            data: dict[str, Any] = json.loads(text)
            version, args = data["version"], (data["bands"], data["common_names"], data["indices"])
        except (ValueError, TypeError, KeyError) as exc:
            raise InferenceError(f"not a feature spec ({exc}): {text[:200]!r}") from exc
        if version > FEATURES_VERSION:
            raise InferenceError(
                f"feature spec version {version} is newer than this ml4earth-stac's "
                f"({FEATURES_VERSION}); upgrade ml4earth-stac"
            )
        return make_feature_spec(args[0], args[1], args[2])

    def _described(self) -> str:
        return f"bands {list(self.bands)} (common names {list(self.common_names)})"


def make_feature_spec(
    band_names: Sequence[str],
    common_names: Sequence[str | None] | None = None,
    indices: Sequence[str] = DEFAULT_INDICES,
) -> FeatureSpec:
    """Check that the bands can give the indices and build the spec.

    Args:
        band_names: the bands of the input image, in order.
        common_names: their eo common names; default :func:`common_names_for` (Sentinel-2, Landsat).
        indices: the derived features (see :data:`INDEX_INPUTS`); ``()`` for bands only (e.g. SAR).

    Raises:
        InferenceError: duplicate bands, a length mismatch, an unknown index, or bands lacking the
            common names an index needs (the message names them).
    """
    bands = tuple(str(band) for band in band_names)
    names = common_names_for(bands) if common_names is None else tuple(common_names)
    if len(set(bands)) != len(bands) or len(names) != len(bands) or not bands:
        raise InferenceError(f"need distinct band names and one common name each; got {bands} and {names}")
    unknown = [index for index in indices if index not in INDEX_INPUTS]
    if unknown:
        raise InferenceError(f"unknown indices {unknown}; choose from {list(INDEX_INPUTS)}")
    spec = FeatureSpec(bands, names, tuple(indices))
    for index in spec.indices:
        missing = [name for name in INDEX_INPUTS[index] if not _has(spec, name)]
        if missing:
            raise InferenceError(
                f"index {index!r} needs bands with common names {list(INDEX_INPUTS[index])} (nir: nir or "
                f"nir08), but {spec._described()} lack {missing}; add those bands, pass their common_names, "
                f"or leave {index!r} out of indices (available: {available_indices(bands, names)})"
            )
    return spec


def available_indices(
    band_names: Sequence[str], common_names: Sequence[str | None] | None = None
) -> tuple[str, ...]:
    """The indices (in :data:`DEFAULT_INDICES` order) that these bands can give."""
    names = common_names_for(band_names) if common_names is None else tuple(common_names)
    spec = FeatureSpec(tuple(band_names), names, ())
    return tuple(i for i in DEFAULT_INDICES if all(_has(spec, name) for name in INDEX_INPUTS[i]))


def compute_features(
    image: np.ndarray,
    band_names: Sequence[str],
    common_names: Sequence[str | None] | None = None,
    indices: Sequence[str] = DEFAULT_INDICES,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Features of a physical ``(band, y, x)`` image: ``((feature, y, x) float32, feature_names)``.

    Raises:
        InferenceError: see :func:`make_feature_spec` and :meth:`FeatureSpec.compute`.
    """
    spec = make_feature_spec(band_names, common_names, indices)
    return spec.compute(image), spec.feature_names


def _has(spec: FeatureSpec, common_name: str) -> bool:
    options = NIR_NAMES if common_name == "nir" else (common_name,)
    return any(name in spec.common_names for name in options)


_INDEX_FUNCTIONS: Final[Mapping[str, Callable[..., np.ndarray]]] = MappingProxyType(
    {
        "ndvi": normalized_difference,
        "ndwi": normalized_difference,
        "ndsi": normalized_difference,
        "nir_std5": local_std,
    }
)
