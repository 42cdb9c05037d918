"""The small U-Net baseline: trained with PyTorch on a chip store, exported to ONNX for onnxruntime.

torch is imported lazily, inside the functions that need it: this module imports without torch (its
dataclasses, :class:`TrainingError`, :func:`read_class_values` and :func:`indices_to_classes` work
anywhere); :func:`build_unet`, :func:`train_unet` and :func:`export_unet_onnx` need the ``train`` extra
(``pip install 'ml4earth-stac[train]'``) and raise :class:`TrainingError` without it.

The network has ``depth`` levels (default 3) of two 3x3 conv-BatchNorm-ReLU layers, 2x2 max-pooling down,
bilinear x2 upsampling with skip connections up, ``base_channels`` (default 16) doubling per level, and a
1x1 head giving ``K`` logits. Input height and width must be multiples of ``2**depth`` (8 by default;
chips are 64 or 128 px). Class values (e.g. ``[1, 2, 3, 4]``) are learned as indices ``0..K-1``; the
mapping is kept in the model (buffer ``class_values``), the report and the ONNX metadata.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from ml4earth_stac.errors import Ml4EarthError, StoreError
from ml4earth_stac.store.dataset import ChipDataset, Sample

if TYPE_CHECKING:
    import torch

IGNORE_INDEX: Final = 255  # the chip store's label nodata, also the loss's ignore_index
INPUT_NAME: Final = "image"
OUTPUT_NAME: Final = "logits"
CLASS_VALUES_KEY: Final = "ml4earth:class_values"  # ONNX metadata: JSON list, logit index -> class value
ONNX_TOLERANCE: Final = 1e-4
DEFAULT_OPSET: Final = 17
DEFAULT_THREADS: Final = 1
SHUFFLE_SHARDS: Final = 4  # training samples are shuffled within a window of this many shards


class TrainingError(Ml4EarthError):
    """A model cannot be trained or exported as asked (bad classes, chips, settings, or no torch)."""


@dataclass(frozen=True)
class UNetConfig:
    """The U-Net's shape: ``depth`` down/up levels, ``base_channels`` doubling per level."""

    base_channels: int = 16
    depth: int = 3

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this (``2**depth``)."""
        return 2**self.depth


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (see :func:`train_unet`).

    Raises:
        TrainingError: a setting out of range.
    """

    epochs: int = 20
    batch_size: int = 16
    lr: float = 3e-3
    seed: int = 0
    max_seconds: float | None = None
    class_weights: bool = False
    architecture: UNetConfig = UNetConfig()
    threads: int | None = DEFAULT_THREADS

    def __post_init__(self) -> None:
        arch = self.architecture
        threads = 1 if self.threads is None else self.threads
        counts = {"epochs": self.epochs, "batch_size": self.batch_size, "threads": threads}
        counts |= {"depth": arch.depth, "base_channels": arch.base_channels}
        bad = [name for name, value in counts.items() if value < 1]
        bad += [] if self.lr > 0 else ["lr"]
        bad += [] if self.max_seconds is None or self.max_seconds >= 0 else ["max_seconds"]
        if bad:
            raise TrainingError(
                f"training settings {bad} out of range in {self}: lr must be > 0, max_seconds None or >= 0, "
                "the others >= 1"
            )


@dataclass(frozen=True)
class EpochStats:
    """One epoch: mean train loss over its batches, train time, and val scores (None without val)."""

    epoch: int
    train_loss: float
    batches: int
    chips: int
    train_seconds: float
    val_accuracy: float | None = None
    val_miou: float | None = None


@dataclass(frozen=True)
class TrainReport:
    """What :func:`train_unet` did: class mapping, bands, per-epoch figures, settings, timings.

    Attributes:
        class_values: class value of each logit index (``class_values[i]`` is predicted as index ``i``).
        bands: input bands, in order (the train split's).
        epochs: per-epoch figures; fewer than ``config.epochs`` when the time budget stopped training.
        stopped_early: the ``max_seconds`` budget ended training.
        seconds: wall time of the whole run, validation included.
        config: the settings used.
        class_weights: loss weight per index, or None.
    """

    class_values: tuple[int, ...]
    bands: tuple[str, ...]
    epochs: tuple[EpochStats, ...]
    stopped_early: bool
    seconds: float
    config: TrainConfig
    class_weights: tuple[float, ...] | None = None

    @property
    def chips_per_second(self) -> float:
        """Training throughput (chips per second of training, validation excluded)."""
        seconds = sum(e.train_seconds for e in self.epochs)
        return sum(e.chips for e in self.epochs) / seconds if seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with ``chips_per_second``."""
        return {**asdict(self), "chips_per_second": self.chips_per_second}


@dataclass(frozen=True)
class OnnxExport:
    """An exported model: where, which opset, its class mapping, and its largest |ONNX - torch| difference."""

    path: Path
    opset: int
    n_bands: int
    class_values: tuple[int, ...]
    max_abs_diff: float


def build_unet(n_bands: int, class_values: Sequence[int], architecture: UNetConfig = UNetConfig()) -> Any:
    """A freshly initialised U-Net (``torch.nn.Module``): ``n_bands`` in, ``len(class_values)`` logits out.

    Raises:
        TrainingError: no torch, or fewer than 1 band or 2 classes.
    """
    if n_bands < 1 or len(class_values) < 2:
        raise TrainingError(f"a U-Net needs >= 1 band and >= 2 classes, got {n_bands} and {class_values}")
    return _unet_class()(n_bands, list(class_values), architecture.base_channels, architecture.depth)


def train_unet(
    train: ChipDataset,
    val: ChipDataset | None,
    classes: Sequence[int],
    *,
    epochs: int = 20,
    batch_size: int = 16,
    lr: float = 3e-3,
    seed: int = 0,
    max_seconds: float | None = None,
    device: str = "cpu",
    class_weights: bool = False,
    architecture: UNetConfig = UNetConfig(),
    threads: int | None = DEFAULT_THREADS,
) -> tuple[Any, TrainReport]:
    """Train a U-Net on normalised chips with cross-entropy, seeded and reproducible.

    Pixels whose label is 255, whose class is not in ``classes`` or that are not ``valid`` are ignored.
    With the same seed, data and thread count, CPU training gives the same weights (unless
    ``max_seconds`` cut it short at a different batch). AdamW; shards come in a seeded random order and
    samples are shuffled within a window of :data:`SHUFFLE_SHARDS` shards, so memory stays bounded.

    Args:
        train: the train split (``normalize=True``, with labels).
        val: the split scored after each epoch (pixel accuracy and mIoU), or None.
        classes: class values to learn, e.g. ``[1, 2, 3, 4]``; logit ``i`` is class ``classes[i]``.
        epochs: passes over ``train``.
        batch_size: chips per step.
        lr: AdamW learning rate.
        seed: seeds torch and the shuffling.
        max_seconds: training time budget, checked after every batch (at least one batch runs).
        device: a torch device, e.g. ``cpu`` or ``cuda``.
        class_weights: weight the loss by ``1/sqrt(class frequency)`` (stored train frequencies, else
            counted), normalised to mean 1.
        architecture: the U-Net's shape.
        threads: torch CPU threads while training (restored after), or None to keep torch's setting.
            The default 1 is robust: on a 2-core machine shared with another busy process, 2 threads
            trained 25x slower than 1 (OpenMP threads wait on each other).

    Returns:
        The trained model in eval mode, on ``device``, and the report.

    Raises:
        TrainingError: no torch, bad settings or classes, unusable chips, or no labelled pixel.
    """
    config = TrainConfig(epochs, batch_size, lr, seed, max_seconds, class_weights, architecture, threads)
    torch = _torch()
    _check_device(torch, device)
    values = _check_inputs(train, val, classes, config)
    lut = np.full(256, IGNORE_INDEX, dtype=np.int64)
    lut[list(values)] = np.arange(len(values))
    weights = _class_weights(train, values, lut) if class_weights else None
    start = time.perf_counter()
    with _torch_settings(torch, seed, threads):
        model = build_unet(len(train.bands), values, architecture).to(device)
        weight = None if weights is None else torch.tensor(weights, dtype=torch.float32, device=device)
        loss_fn = torch.nn.CrossEntropyLoss(weight=weight, ignore_index=IGNORE_INDEX)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
        history, stopped = _fit(_Run(model, optimizer, loss_fn, lut, config, device), train, val)
    seconds = time.perf_counter() - start
    report = TrainReport(values, tuple(train.bands), tuple(history), stopped, seconds, config, weights)
    return model.eval(), report


def export_unet_onnx(model: Any, n_bands: int, path: str | Path, *, opset: int = DEFAULT_OPSET) -> OnnxExport:
    """Export a U-Net to ONNX (TorchScript exporter) and check onnxruntime against torch.

    The graph takes ``image`` float32 ``[N, n_bands, H, W]`` (normalised; dynamic N, H, W, multiples of
    the model's size multiple) and gives ``logits`` ``[N, K, H, W]``; its metadata holds
    :data:`CLASS_VALUES_KEY`. The file appears at ``path`` only once checked.

    Raises:
        TrainingError: no torch, ``n_bands`` differs from the model's, or ONNX and torch differ by more
            than :data:`ONNX_TOLERANCE`.
    """
    torch = _torch()
    model = copy.deepcopy(model).to("cpu").eval()
    if n_bands != model.n_bands:
        raise TrainingError(f"the model takes {model.n_bands} bands, not n_bands={n_bands}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.partial")
    class_values = tuple(int(v) for v in model.class_values.tolist())
    try:
        _export_graph(torch, model, staging, opset)
        _write_metadata(staging, class_values)
        diff = _compare_onnx(model, staging, n_bands)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    os.replace(staging, path)
    return OnnxExport(path, opset, n_bands, class_values, diff)


def read_class_values(path: str | Path) -> tuple[int, ...]:
    """The class value of each logit index, from an exported model's metadata (onnxruntime only).

    Raises:
        TrainingError: the model has no :data:`CLASS_VALUES_KEY` metadata.
    """
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    if CLASS_VALUES_KEY not in meta:
        raise TrainingError(f"{path} has no {CLASS_VALUES_KEY!r} metadata; export it with export_unet_onnx")
    return tuple(int(v) for v in json.loads(meta[CLASS_VALUES_KEY]))


def indices_to_classes(indices: np.ndarray, class_values: Sequence[int]) -> np.ndarray:
    """Map predicted logit indices (e.g. ``logits.argmax(1)``) to class values, uint8."""
    return np.asarray(class_values, dtype=np.uint8)[indices]


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise TrainingError(
            "training and exporting the U-Net need torch: pip install 'ml4earth-stac[train]'"
        ) from exc
    return torch


@contextmanager
def _torch_settings(torch: Any, seed: int, threads: int | None) -> Iterator[None]:
    """Seed torch, use deterministic algorithms and ``threads`` threads inside the block (then restore)."""
    mode = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    previous_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.set_num_threads(threads or previous_threads)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(mode[0], warn_only=mode[1])
        torch.set_num_threads(previous_threads)


def _check_device(torch: Any, device: str) -> None:
    try:
        kind = torch.device(device).type
    except RuntimeError as exc:
        raise TrainingError(f"unknown torch device {device!r}; use 'cpu' or 'cuda'") from exc
    if kind == "cuda" and not torch.cuda.is_available():
        raise TrainingError(f"device {device!r} asked for, but torch sees no CUDA GPU here; use device='cpu'")


def _check_inputs(
    train: ChipDataset, val: ChipDataset | None, classes: Sequence[int], config: TrainConfig
) -> tuple[int, ...]:
    values = tuple(int(v) for v in classes)
    known = {int(c["value"]) for c in train.classes}
    if len(values) < 2 or len(set(values)) != len(values) or not set(values) <= known:
        raise TrainingError(
            f"classes {list(values)} must be >= 2 distinct values of the store's classes {sorted(known)}"
        )
    for chips in (train, val) if val is not None else (train,):
        where = f"{chips.url} ({chips.sensor}, {chips.split})"
        if not (chips.normalize and chips.label) or len(chips) == 0:
            raise TrainingError(f"{where}: open it with normalize=True and label=True, and give it chips")
        if list(chips.bands) != list(train.bands):
            raise TrainingError(f"{where}: bands {chips.bands} differ from the train bands {train.bands}")
        px = int(chips.attrs["chip_px"])
        if px % config.architecture.size_multiple:
            raise TrainingError(
                f"{where}: chips of {px} px; the U-Net needs multiples of {config.architecture.size_multiple}"
                " (lower its depth or re-chip)"
            )
    return values


def _class_weights(train: ChipDataset, values: tuple[int, ...], lut: np.ndarray) -> tuple[float, ...]:
    """``1/sqrt(frequency)`` per class index, mean 1, from stored train frequencies or counted."""
    try:
        shares = train.class_balance()
        frequency = np.array([shares.get(v, 0.0) for v in values])
    except StoreError:
        counts = np.zeros(len(values))
        for _, target in _batches(train, lut, 64, None):
            counts += np.bincount(target[target != IGNORE_INDEX], minlength=len(values))
        frequency = counts / max(counts.sum(), 1)
    if not (frequency > 0).all():
        missing = [v for v, f in zip(values, frequency, strict=True) if f <= 0]
        raise TrainingError(
            f"classes {missing} have no train pixels in {train.url}: drop them or train without class_weights"
        )
    weights = 1 / np.sqrt(frequency)
    return tuple(float(w) for w in weights / weights.mean())


@dataclass(frozen=True)
class _Run:
    """What one training run works with (torch objects, the class lookup table, the settings)."""

    model: Any
    optimizer: Any
    loss_fn: Any
    lut: np.ndarray  # class value -> logit index, 255 elsewhere
    config: TrainConfig
    device: str


def _fit(run: _Run, train: ChipDataset, val: ChipDataset | None) -> tuple[list[EpochStats], bool]:
    """Train for the configured epochs or until the time budget is spent; score val after each epoch."""
    rng = np.random.default_rng(run.config.seed)
    budget = run.config.max_seconds
    deadline = None if budget is None else time.perf_counter() + budget
    history: list[EpochStats] = []
    for epoch in range(1, run.config.epochs + 1):
        if history and deadline is not None and time.perf_counter() > deadline:
            return history, True
        began = time.perf_counter()
        batches = _batches(train, run.lut, run.config.batch_size, rng)
        loss, steps, chips, stopped = _train_epoch(run, batches, deadline)
        seconds = time.perf_counter() - began
        scores = _evaluate(run, val) if val is not None else (None, None)
        history.append(EpochStats(epoch, loss, steps, chips, seconds, *scores))
        if stopped:
            return history, True
    return history, False


def _train_epoch(
    run: _Run, batches: Iterator[tuple[np.ndarray, np.ndarray]], deadline: float | None
) -> tuple[float, int, int, bool]:
    """One pass: (mean loss, steps, chips, stopped by the deadline); batches without labels are skipped."""
    torch = _torch()
    run.model.train()
    total, steps, chips = 0.0, 0, 0
    for image, target in batches:
        if steps and deadline is not None and time.perf_counter() > deadline:
            return total / steps, steps, chips, True
        if not (target != IGNORE_INDEX).any():
            continue
        run.optimizer.zero_grad(set_to_none=True)
        logits = run.model(torch.from_numpy(image).to(run.device))
        loss = run.loss_fn(logits, torch.from_numpy(target).to(run.device))
        loss.backward()
        run.optimizer.step()
        total, steps, chips = total + loss.item(), steps + 1, chips + len(image)
    if not steps:
        raise TrainingError("no train chip has a labelled, valid pixel of the chosen classes")
    return total / steps, steps, chips, False


def _evaluate(run: _Run, chips: ChipDataset) -> tuple[float | None, float | None]:
    """Pixel accuracy and mean IoU (over classes present in truth or prediction) of labelled valid pixels."""
    torch = _torch()
    k = run.model.n_classes
    confusion = np.zeros((k, k), dtype=np.int64)
    run.model.eval()
    with torch.inference_mode():
        for image, target in _batches(chips, run.lut, run.config.batch_size, None):
            predicted = run.model(torch.from_numpy(image).to(run.device)).argmax(1).cpu().numpy()
            keep = target != IGNORE_INDEX
            confusion += np.bincount(target[keep] * k + predicted[keep], minlength=k * k).reshape(k, k)
    run.model.train()
    if confusion.sum() == 0:
        return None, None
    hits = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - hits
    return float(hits.sum() / confusion.sum()), float(np.mean(hits[union > 0] / union[union > 0]))


def _batches(
    chips: ChipDataset, lut: np.ndarray, batch_size: int, rng: np.random.Generator | None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(image float32, target int64 index or 255) batches; with ``rng`` shuffled in a window of shards."""
    shards = chips.shard_ranges()
    if rng is not None:
        shards = [shards[i] for i in rng.permutation(len(shards))]
    window = max(batch_size, SHUFFLE_SHARDS * chips.shard_samples)
    pending: list[Sample] = []
    samples = chips.iter_shards(shards)
    while chunk := pending + list(itertools.islice(samples, window - len(pending))):
        if rng is not None:
            chunk = [chunk[i] for i in rng.permutation(len(chunk))]
        last = len(chunk) < window  # the split is spent: emit the rest as a short batch too
        full = len(chunk) if last else len(chunk) // batch_size * batch_size
        for first in range(0, full, batch_size):
            yield _stack(chunk[first : first + batch_size], lut)
        pending = chunk[full:]


def _stack(samples: Sequence[Sample], lut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    image = np.stack([s["image"] for s in samples]).astype(np.float32, copy=False)
    label = np.stack([s["label"] for s in samples])
    valid = np.stack([s["valid"] for s in samples])
    return image, np.where(valid, lut[label], IGNORE_INDEX)


def _export_graph(torch: Any, model: Any, path: Path, opset: int) -> None:
    """Trace ``model`` on a zero image and write ONNX with dynamic batch, height and width."""
    example = torch.zeros(1, model.n_bands, 4 * model.size_multiple, 4 * model.size_multiple)
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated, but needs no onnxscript
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes},
            opset_version=opset,
            dynamo=False,
        )


def _write_metadata(path: Path, class_values: tuple[int, ...]) -> None:
    import onnx

    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, {CLASS_VALUES_KEY: json.dumps(list(class_values))})
    proto.producer_name = "ml4earth-stac"
    onnx.save(proto, str(path))


def _compare_onnx(model: Any, path: Path, n_bands: int) -> float:
    """Largest |onnxruntime - torch| on a seeded input of another size and batch than the traced one."""
    import onnxruntime

    torch = _torch()
    size = 5 * model.size_multiple
    image = np.random.default_rng(0).normal(size=(2, n_bands, size, size + model.size_multiple))
    image = image.astype(np.float32)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run([OUTPUT_NAME], {INPUT_NAME: image})
    with torch.inference_mode():
        expected = model(torch.from_numpy(image)).numpy()
    diff = float(np.abs(logits - expected).max()) if logits.shape == expected.shape else float("inf")
    if not diff <= ONNX_TOLERANCE:
        raise TrainingError(
            f"ONNX export {path} differs from torch by {diff:.3g} (shapes {logits.shape}, "
            f"{expected.shape}; allowed {ONNX_TOLERANCE}): try another opset"
        )
    return diff


@functools.cache
def _unet_class() -> type:
    """The ``UNet`` module class, made once, on first use (torch is optional)."""
    torch = _torch()
    nn, functional = torch.nn, torch.nn.functional

    def block(inputs: int, outputs: int) -> Any:
        """Two 3x3 conv-BatchNorm-ReLU layers."""
        layers = []
        for channels in (inputs, outputs):
            conv = nn.Conv2d(channels, outputs, 3, padding=1, bias=False)
            layers += [conv, nn.BatchNorm2d(outputs), nn.ReLU(inplace=True)]
        return nn.Sequential(*layers)

    class UNet(nn.Module):
        """``depth`` levels down and up with skips; ``n_bands`` in, ``len(class_values)`` logits out."""

        def __init__(self, n_bands: int, class_values: list[int], base_channels: int, depth: int) -> None:
            super().__init__()
            widths = [base_channels * 2**level for level in range(depth + 1)]
            self.n_bands, self.n_classes, self.size_multiple = n_bands, len(class_values), 2**depth
            self.register_buffer("class_values", torch.tensor(class_values, dtype=torch.int64))
            self.down = nn.ModuleList([block(n_bands, widths[0])])
            self.down.extend(block(widths[i], widths[i + 1]) for i in range(depth))
            self.up = nn.ModuleList(
                block(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(depth))
            )
            self.head = nn.Conv2d(widths[0], self.n_classes, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            skips = []
            for level, layer in enumerate(self.down):
                x = layer(x if level == 0 else functional.max_pool2d(x, 2))
                skips.append(x)
            skips.pop()  # the bottleneck
            for layer in self.up:
                x = functional.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
                x = layer(torch.cat([x, skips.pop()], dim=1))
            return self.head(x)

    UNet.__module__, UNet.__qualname__ = __name__, "UNet"
    return UNet


def __getattr__(name: str) -> Any:
    """``UNet`` on demand (so that ``torch.save``/pickle of a whole model finds its class)."""
    if name == "UNet":
        return _unet_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
