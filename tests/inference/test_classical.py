"""The classical baseline: training, ONNX export, and onnxruntime inference (no torch)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from ml4earth_stac.inference.classical import (
    PixelClassifier,
    export_onnx,
    train_pixel_classifier,
)
from ml4earth_stac.inference.runtime import InferenceError, OnnxPixelModel

BANDS = ["B02", "B03", "B04", "B08", "B11", "B12"]
CLASSES = [{"value": 0, "name": "other"}, {"value": 1, "name": "vegetation"}, {"value": 2, "name": "water"}]
CHIP = 32
MAX_PIXELS = 9_000  # below the 16 chips' ~16k labelled pixels: the seeded sampler is exercised


def synthetic_chips(count: int, seed: int) -> list[dict[str, Any]]:
    """Chips of random Sentinel-2 spectra whose class follows NDVI/NDWI thresholds, plus sensor noise.

    Class 1 where NDVI > 0.3, class 2 where NDWI > 0.2 (wins), else 0; a 2x3 corner is NaN with label 255
    and a 1x4 strip is unlabelled (255) but valid.
    """
    rng = np.random.default_rng(seed)
    chips = []
    for _ in range(count):
        image = rng.uniform(0.02, 0.6, size=(len(BANDS), CHIP, CHIP)).astype("float32")
        green, red, nir = image[1], image[2], image[3]
        label = np.zeros((CHIP, CHIP), dtype="uint8")
        label[(nir - red) / (nir + red) > 0.3] = 1
        label[(green - nir) / (green + nir) > 0.2] = 2
        image += rng.normal(0, 0.003, image.shape).astype("float32")
        image[:, :2, :3] = np.nan
        label[:2, :3] = 255
        label[10, 5:9] = 255
        chips.append({"image": image, "label": label})
    return chips


def train_small(seed: int = 0, model: str = "hgb") -> PixelClassifier:
    """A classifier of the synthetic training chips (16 chips)."""
    return train_pixel_classifier(
        synthetic_chips(16, seed=100), BANDS, CLASSES, max_pixels=MAX_PIXELS, seed=seed, model=model
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[PixelClassifier, Path]:
    classifier = train_small()
    return classifier, export_onnx(classifier, tmp_path_factory.mktemp("model") / "hgb.onnx")


@pytest.fixture(scope="module")
def held_out() -> list[dict[str, Any]]:
    return synthetic_chips(4, seed=200)


def _accuracy(model: OnnxPixelModel, chips: list[dict[str, Any]]) -> float:
    right = total = 0
    for chip in chips:
        classes = model.predict(chip["image"], BANDS).classes
        labelled = chip["label"] != 255
        right += int((classes[labelled] == chip["label"][labelled]).sum())
        total += int(labelled.sum())
    return right / total


def test_trains_fast_and_beats_95_percent_on_held_out_chips(
    trained: tuple[PixelClassifier, Path], held_out: list[dict[str, Any]]
) -> None:
    classifier, path = trained
    assert classifier.seconds < 20
    assert classifier.class_values == (0, 1, 2)
    assert sum(classifier.pixels_used.values()) <= MAX_PIXELS
    assert all(used <= MAX_PIXELS // 3 for used in classifier.pixels_used.values())
    assert sum(classifier.pixels_seen.values()) == 16 * (CHIP * CHIP - 6 - 4)
    assert classifier.unknown_label_pixels == 0 and classifier.absent_classes == ()
    assert _accuracy(OnnxPixelModel(path), held_out) > 0.95


def test_same_seed_gives_the_same_onnx_bytes(trained: tuple[PixelClassifier, Path], tmp_path: Path) -> None:
    _, path = trained
    again = export_onnx(train_small(seed=0), tmp_path / "again.onnx")
    assert again.read_bytes() == path.read_bytes()


def test_onnx_predictions_equal_sklearn_predictions(
    trained: tuple[PixelClassifier, Path], held_out: list[dict[str, Any]]
) -> None:
    classifier, path = trained
    features = np.concatenate([classifier.spec.compute(c["image"]).reshape(10, -1).T for c in held_out])
    features = features[np.isfinite(features).all(axis=1)]
    labels, probabilities = OnnxPixelModel(path).predict_features(features)
    with threadpool_limits(1):  # OpenMP threads on a busy machine are slower than one
        expected_labels = classifier.estimator.predict(features)
        expected = classifier.estimator.predict_proba(features)
    assert len(labels) > 3000 and (labels == expected_labels).mean() >= 0.999
    np.testing.assert_allclose(probabilities, expected, atol=1e-4)


def test_random_forest_exports_and_predicts(tmp_path: Path, held_out: list[dict[str, Any]]) -> None:
    classifier = train_small(model="rf")
    model = OnnxPixelModel(export_onnx(classifier, tmp_path / "rf.onnx"))
    assert model.kind == "rf" and _accuracy(model, held_out) > 0.9


def test_classes_without_pixels_and_unknown_labels_are_reported(tmp_path: Path) -> None:
    chips = synthetic_chips(2, seed=5)
    chips[0]["label"][20:22, 20:22] = 7  # not a declared class: ignored, counted
    water_as_other = [{**c, "label": np.where(c["label"] == 2, 0, c["label"])} for c in chips]
    classifier = train_pixel_classifier(water_as_other, BANDS, CLASSES, max_pixels=3000)
    assert classifier.class_values == (0, 1) and classifier.absent_classes == (2,)
    assert classifier.unknown_label_pixels == 4
    model = OnnxPixelModel(export_onnx(classifier, tmp_path / "two.onnx"))
    assert model.class_values == (0, 1)
    assert model.predict(chips[1]["image"], BANDS).probabilities.shape == (2, CHIP, CHIP)


def test_nan_pixels_give_255_and_nan_probabilities(
    trained: tuple[PixelClassifier, Path], held_out: list[dict[str, Any]]
) -> None:
    image = held_out[0]["image"].copy()
    image[4, 20:22, 20:25] = np.nan  # one band (B11) only
    classes, probabilities = OnnxPixelModel(trained[1]).predict(image, BANDS)
    invalid = ~np.isfinite(image).all(axis=0)
    assert (classes[invalid] == 255).all() and (classes[~invalid] != 255).all()
    assert np.isnan(probabilities[:, invalid]).all() and np.isfinite(probabilities[:, ~invalid]).all()
    np.testing.assert_allclose(probabilities[:, ~invalid].sum(axis=0), 1, atol=1e-5)


def test_strips_reordered_and_extra_bands_give_the_same_result(
    trained: tuple[PixelClassifier, Path], held_out: list[dict[str, Any]]
) -> None:
    image = held_out[1]["image"]
    reference = OnnxPixelModel(trained[1]).predict(image, BANDS)
    small = OnnxPixelModel(trained[1], batch_pixels=40, threads=1)  # strips of one row
    shuffled = np.concatenate([image[::-1], image[:1] * 0])
    result = small.predict(shuffled, [*BANDS[::-1], "SCL"])
    np.testing.assert_array_equal(result.classes, reference.classes)
    np.testing.assert_allclose(result.probabilities, reference.probabilities, atol=1e-6)


class _Untouchable:
    """An image that fails the test if anything reads it."""

    def __array__(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        raise AssertionError("the image was read before the bands were checked")

    @property
    def shape(self) -> tuple[int, ...]:
        raise AssertionError("the image was inspected before the bands were checked")


def test_band_mismatch_fails_before_any_compute(trained: tuple[PixelClassifier, Path]) -> None:
    model = OnnxPixelModel(trained[1])
    expected = r"expects bands \['B02'.*'B12'\] but the input has .*missing \['B11'"
    with pytest.raises(InferenceError, match=expected):
        model.predict(_Untouchable(), ["B02", "B03", "B04", "B08", "B12"])  # type: ignore[arg-type]
    with pytest.raises(InferenceError, match="with 6 bands"):
        model.predict(np.zeros((5, 4, 4), dtype="float32"), BANDS)


def test_bad_training_input_is_refused() -> None:
    class Normalized(list):
        normalize = True

    with pytest.raises(InferenceError, match="normalize=False"):
        train_pixel_classifier(Normalized(), BANDS, CLASSES)
    with pytest.raises(InferenceError, match="two classes"):
        zeros = np.zeros((CHIP, CHIP), "uint8")
        only_zero = [{"image": chip["image"], "label": zeros} for chip in synthetic_chips(1, 0)]
        train_pixel_classifier(only_zero, BANDS, CLASSES)


def test_inference_never_imports_torch(trained: tuple[PixelClassifier, Path]) -> None:
    script = textwrap.dedent(
        f"""
        import json, sys
        import numpy as np
        from ml4earth_stac.inference.runtime import OnnxPixelModel
        model = OnnxPixelModel({str(trained[1])!r})
        image = np.random.default_rng(0).uniform(0.02, 0.6, (6, 16, 16)).astype("float32")
        classes, _ = model.predict(image, {BANDS!r})
        print(json.dumps({{"torch": "torch" in sys.modules, "classified": int((classes != 255).sum())}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"torch": False, "classified": 256}
