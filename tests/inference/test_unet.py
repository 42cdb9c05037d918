"""The U-Net baseline: learns a spatial task, is reproducible, exports to ONNX that matches torch."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import ndimage

from ml4earth_stac.inference.unet import (
    CLASS_VALUES_KEY,
    TrainingError,
    UNetConfig,
    export_unet_onnx,
    indices_to_classes,
    read_class_values,
    train_unet,
)
from ml4earth_stac.store.chips import LABEL_NODATA, ChipSample, ChipStoreWriter
from ml4earth_stac.store.dataset import ChipDataset

torch = pytest.importorskip("torch")

SENSOR = "sentinel-2"
BANDS = ("B02", "B03", "B04", "B08")
CLASSES = [{"value": 1, "name": "rock"}, {"value": 2, "name": "glacier"}, {"value": 3, "name": "ocean"}]
COUNTS = {"train": 32, "val": 8, "test": 8}
PX, SHARD = 32, 8
ORDER = [3, 1, 2]  # logit index -> class value, deliberately not sorted


def make_chip(rng: np.random.Generator, split: str, index: int) -> ChipSample:
    """Smooth random fields in bands 0-2 (band 3 noise); the label is the class of the largest field."""
    fields = ndimage.zoom(rng.normal(size=(3, 4, 4)), (1, PX / 4, PX / 4), order=1)
    image = np.concatenate([fields, rng.normal(size=(1, PX, PX))]) + rng.normal(0, 0.05, (4, PX, PX))
    label = (1 + fields.argmax(0)).astype("uint8")
    label[:, :2] = LABEL_NODATA  # unlabelled border
    if index % 4 == 0:
        image[:, 10:16, 10:16] = np.nan  # invalid pixels: their label is ignored
    return ChipSample(
        image=(image * 0.1 + 0.3).astype("float32"),
        label=label,
        aoi="glacier-a",
        time=datetime(2022, 7, 1 + index % 28, tzinfo=UTC),
        split=split,
        chip_row=index * PX,
        chip_col=0,
        bounds=(500000.0, 8e6 - (index + 1) * PX * 10, 500000.0 + PX * 10, 8e6 - index * PX * 10),
        epsg=32633,
        source_item=f"S2A_{index:03d}",
    )


def write_chips(path: Path, px: int = PX) -> Path:
    rng = np.random.default_rng(7)
    samples = [make_chip(rng, split, i) for split, n in COUNTS.items() for i in range(n)]
    train = np.stack([s.image for s in samples if s.split == "train"])
    stats = {
        key: [float(v) for v in f(train, axis=(0, 2, 3))]
        for key, f in (("mean", np.nanmean), ("std", np.nanstd))
    }
    with ChipStoreWriter(path, SENSOR, BANDS, px, CLASSES, COUNTS, shard_samples=SHARD) as writer:
        writer.write(samples)
        return writer.close(stats)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_chips(tmp_path_factory.mktemp("unet") / "chips.zarr")


@pytest.fixture(scope="module")
def trained(store: Path) -> tuple[Any, Any]:
    train, val = (ChipDataset(store, split, SENSOR) for split in ("train", "val"))
    return train_unet(train, val, ORDER, epochs=12, batch_size=8, lr=1e-2, seed=0)


def weights(model: Any) -> dict[str, Any]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def test_unet_learns_the_spatial_task(trained: tuple[Any, Any]) -> None:
    _, report = trained
    final = report.epochs[-1]
    assert len(report.epochs) == 12 and not report.stopped_early
    assert final.val_accuracy is not None and final.val_accuracy > 0.9, report.epochs
    assert final.val_miou is not None and final.val_miou > 0.8
    assert final.train_loss < report.epochs[0].train_loss
    assert report.class_values == tuple(ORDER) and report.bands == BANDS
    assert final.chips == COUNTS["train"] and report.chips_per_second > 0
    json.dumps(report.to_dict())  # JSON-ready


def test_predicted_indices_map_back_to_class_values(store: Path, trained: tuple[Any, Any]) -> None:
    model, report = trained
    chips = list(ChipDataset(store, "test", SENSOR))
    image = torch.from_numpy(np.stack([c["image"] for c in chips]))
    with torch.inference_mode():
        predicted = indices_to_classes(model(image).argmax(1).numpy(), report.class_values)
    label = np.stack([c["label"] for c in chips])
    scored = (label != LABEL_NODATA) & np.stack([c["valid"] for c in chips])
    assert predicted.dtype == np.uint8 and set(np.unique(predicted)) <= {1, 2, 3}
    assert (predicted[scored] == label[scored]).mean() > 0.9
    assert model.class_values.tolist() == ORDER


def test_same_seed_gives_the_same_weights(store: Path) -> None:
    train = ChipDataset(store, "train", SENSOR)
    runs = [train_unet(train, None, ORDER, epochs=2, batch_size=8, seed=seed)[0] for seed in (5, 5, 6)]
    first, again, other = (weights(model) for model in runs)
    assert all(torch.equal(first[name], again[name]) for name in first)
    assert not all(torch.equal(first[name], other[name]) for name in first)


def test_onnx_export_matches_torch_and_keeps_the_class_mapping(
    trained: tuple[Any, Any], tmp_path: Path
) -> None:
    import onnxruntime

    model, _ = trained
    exported = export_unet_onnx(model, len(BANDS), tmp_path / "models" / "unet.onnx")
    assert exported.path.is_file() and exported.max_abs_diff <= 1e-4 and exported.class_values == tuple(ORDER)
    assert read_class_values(exported.path) == tuple(ORDER)
    session = onnxruntime.InferenceSession(str(exported.path), providers=["CPUExecutionProvider"])
    (inputs,), (outputs,) = session.get_inputs(), session.get_outputs()
    assert (inputs.name, outputs.name) == ("image", "logits")
    assert inputs.shape[1] == len(BANDS) and all(isinstance(inputs.shape[i], str) for i in (0, 2, 3))
    image = np.random.default_rng(1).normal(size=(3, len(BANDS), 64, 128)).astype("float32")
    (logits,) = session.run(None, {"image": image})
    with torch.inference_mode():
        expected = model(torch.from_numpy(image)).numpy()
    assert logits.shape == (3, len(ORDER), 64, 128)
    np.testing.assert_allclose(logits, expected, atol=1e-4)
    assert json.loads(session.get_modelmeta().custom_metadata_map[CLASS_VALUES_KEY]) == ORDER
    assert not list(exported.path.parent.glob(".*partial"))


def test_time_budget_stops_training_after_one_batch(store: Path) -> None:
    train, val = (ChipDataset(store, split, SENSOR) for split in ("train", "val"))
    _, report = train_unet(train, val, ORDER, epochs=5, batch_size=8, max_seconds=0)
    assert report.stopped_early and len(report.epochs) == 1 and report.epochs[0].batches == 1
    assert report.epochs[0].val_accuracy is not None


def test_class_weights_come_from_counted_frequencies(store: Path) -> None:
    train = ChipDataset(store, "train", SENSOR)  # this store holds no class frequencies: they are counted
    _, report = train_unet(train, None, ORDER, epochs=1, batch_size=16, max_seconds=0, class_weights=True)
    assert report.class_weights is not None and len(report.class_weights) == 3
    assert np.mean(report.class_weights) == pytest.approx(1.0) and min(report.class_weights) > 0


@pytest.mark.parametrize(
    ("classes", "kwargs", "match"),
    [
        ([1, 4], {}, "store's classes"),
        ([1], {}, ">= 2 distinct"),
        ([1, 1, 2], {}, ">= 2 distinct"),
        (ORDER, {"epochs": 0}, r"settings \['epochs'\]"),
        (ORDER, {"max_seconds": -1, "lr": 0}, r"settings \['lr', 'max_seconds'\]"),
        (ORDER, {"threads": 0}, r"settings \['threads'\]"),
        (ORDER, {"architecture": UNetConfig(depth=6)}, "multiples of 64"),
    ],
)
def test_bad_settings_fail_clearly(
    store: Path, classes: list[int], kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(TrainingError, match=match):
        train_unet(ChipDataset(store, "train", SENSOR), None, classes, **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_missing_gpu_is_refused(store: Path) -> None:
    with pytest.raises(TrainingError, match="no CUDA GPU"):
        train_unet(ChipDataset(store, "train", SENSOR), None, ORDER, device="cuda")


def test_unnormalised_chips_are_refused(store: Path) -> None:
    with pytest.raises(TrainingError, match="normalize=True"):
        train_unet(ChipDataset(store, "train", SENSOR, normalize=False), None, ORDER)


def test_export_refuses_a_wrong_band_count(trained: tuple[Any, Any], tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="takes 4 bands"):
        export_unet_onnx(trained[0], 3, tmp_path / "unet.onnx")
    assert not list(tmp_path.iterdir())


def test_module_imports_without_torch() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import ml4earth_stac.inference.unet as unet\n"
        "try:\n    unet.build_unet(4, [1, 2])\nexcept unet.TrainingError as e:\n    print('refused:', e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "refused:" in done.stdout and "ml4earth-stac[train]" in done.stdout
