"""Read one split of a chip store (see :mod:`ml4earth_stac.store.chips`), locally or over HTTP(S).

:class:`ChipDataset` is plain numpy and needs no torch. Iterating reads whole shards (one request per
array and shard, a few shards ahead on threads), which is what makes streaming over HTTP fast; indexing
reads one sample. With torch installed, :meth:`ChipDataset.as_torch` gives an ``IterableDataset`` whose
DataLoader workers each read only their own shards, or a map-style ``Dataset`` for shuffled sampling.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

import numpy as np
import xarray as xr
import zarr
import zarr.errors

from ml4earth_stac.errors import StoreError

VERSION_ATTR: Final = "ml4earth:chip_store"  # as written by ml4earth_stac.store.chips
METADATA: Final = ("aoi", "time", "split", "chip_row", "chip_col", "epsg", "source_item")
BOUND_NAMES: Final = ("x_min", "y_min", "x_max", "y_max")
DEFAULT_PREFETCH: Final = 2

Sample = dict[str, Any]


class ChipDataset:
    """The chips of one split and sensor of a chip store.

    Each sample is a dict: ``image`` float32 ``(band, y, x)``, ``valid`` bool ``(y, x)`` (every band
    finite), ``label`` uint8 ``(y, x)`` (255 = nodata; left out with ``label=False``), and ``index``
    (position in the split), ``aoi``, ``time`` (numpy datetime64), ``split``, ``chip_row``, ``chip_col``,
    ``bounds`` (float64 ``[min_x, min_y, max_x, max_y]``), ``epsg``, ``source_item``.

    Args:
        url_or_path: the store: a local path or an ``http(s)://`` (any fsspec) URL.
        split: ``train``, ``val`` or ``test``.
        sensor: the sensor group, e.g. ``sentinel-2``.
        normalize: return ``(x - mean) / std`` with the store's train statistics, NaN set to 0
            (else physical values with NaN).
        bands: band names to return, in this order (default: all).
        label: also return the label.
        prefetch: shards read ahead while iterating.
        storage_options: fsspec options for remote stores (e.g. headers).

    Raises:
        StoreError: no store, no consolidated metadata, or an unknown sensor, split or band.
    """

    def __init__(
        self,
        url_or_path: str | Path,
        split: str,
        sensor: str,
        normalize: bool = True,
        bands: Sequence[str] | None = None,
        label: bool = True,
        prefetch: int = DEFAULT_PREFETCH,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        self.url, self.split, self.sensor = str(url_or_path), split, sensor
        self.normalize, self.label, self.prefetch = normalize, label, max(1, prefetch)
        self.storage_options = storage_options
        dataset = self._dataset()
        self.attrs: dict[str, Any] = dict(dataset.attrs)
        ranges = self.attrs["split_ranges"]
        if split not in ranges:
            raise StoreError(f"{self._where()} has no split {split!r}; choose one of {list(ranges)}")
        self.start, self.stop = (int(v) for v in ranges[split])
        self.shard_samples = int(self.attrs["shard_samples"])
        self.store_bands = [str(b) for b in dataset["band"].values]
        self.bands = list(bands) if bands is not None else self.store_bands
        self._band_index = self._band_positions()
        self._mean, self._std = self._statistics()
        self._meta = _coordinates(dataset, (*METADATA, *BOUND_NAMES), slice(self.start, self.stop))

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample {index} of a {self.split} split of {len(self)} chips")
        index %= len(self)
        return next(self._samples(index, *self._read(self.start + index, self.start + index + 1)))

    def __iter__(self) -> Iterator[Sample]:
        return self.iter_shards(self.shard_ranges())

    def shard_ranges(self) -> list[tuple[int, int]]:
        """The split's shards as ``[start, stop)`` sample positions in the split (the last may be short)."""
        return [
            (first - self.start, min(first + self.shard_samples, self.stop) - self.start)
            for first in range(self.start, self.stop, self.shard_samples)
        ]

    def iter_shards(self, shards: Iterable[tuple[int, int]]) -> Iterator[Sample]:
        """Yield the samples of the given shards (as :meth:`shard_ranges` gives them), reading ahead.

        Each shard is read whole, with one request per array, on ``prefetch`` threads.
        """
        for first, (image, label) in self._prefetched(list(shards)):
            yield from self._samples(first, image, label)

    def class_balance(self) -> dict[int, float]:
        """Class value -> share of the split's labelled pixels, from the stored class frequencies.

        Raises:
            StoreError: the store holds no class frequencies of this split.
        """
        frequencies = (self.attrs.get("class_frequencies") or {}).get("splits", {})
        if self.split not in frequencies:
            raise StoreError(f"{self._where()} holds no class frequencies of split {self.split!r}")
        return {int(value): float(share) for value, share in frequencies[self.split]["fractions"].items()}

    @property
    def classes(self) -> list[dict[str, Any]]:
        """The classes, ``[{"value": int, "name": str}, ...]``."""
        return list(self.attrs["classes"])

    def as_torch(self, map_style: bool = False) -> Any:
        """This split as a torch dataset of tensors (needs torch); ``time`` becomes an ISO string.

        Args:
            map_style: a map-style ``Dataset`` (one read per sample, for shuffling samplers) instead of
                the ``IterableDataset`` (whole shards; under a DataLoader with ``num_workers=n``, worker
                ``k`` reads shards ``k, k + n, ...`` only, so every sample comes exactly once).
        """
        return _torch_classes()["TorchChipMapDataset" if map_style else "TorchChipDataset"](self)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_open", None)  # re-opened where unpickled (e.g. in a DataLoader worker)
        return state

    def _where(self) -> str:
        return f"chip store {self.url}, sensor {self.sensor}"

    def _dataset(self) -> xr.Dataset:
        """The sensor group, opened once per process (a forked worker opens its own HTTP session)."""
        pid, dataset = self.__dict__.get("_open", (None, None))
        if pid != os.getpid():
            dataset = open_chip_group(self.url, self.sensor, self.storage_options)
            self._open = (os.getpid(), dataset)
        return dataset

    def _band_positions(self) -> list[int] | None:
        unknown = [b for b in self.bands if b not in self.store_bands]
        if unknown:
            raise StoreError(f"{self._where()} has no bands {unknown}; choose from {self.store_bands}")
        positions = [self.store_bands.index(b) for b in self.bands]
        return None if positions == list(range(len(self.store_bands))) else positions

    def _statistics(self) -> tuple[np.ndarray, np.ndarray]:
        stats = self.attrs["normalization"]
        mean = np.array([0.0 if v is None else v for v in stats["mean"]], dtype="float32")
        std = np.array([1.0 if not v else v for v in stats["std"]], dtype="float32")  # None or 0: keep scale
        if self._band_index is not None:
            mean, std = mean[self._band_index], std[self._band_index]
        return mean[:, None, None], std[:, None, None]

    def _read(self, first: int, stop: int) -> tuple[np.ndarray, np.ndarray | None]:
        dataset = self._dataset()
        image = dataset["image"].variable[first:stop].values
        label = dataset["label"].variable[first:stop].values if self.label else None
        return image, label

    def _prefetched(
        self, shards: Sequence[tuple[int, int]]
    ) -> Iterator[tuple[int, tuple[np.ndarray, np.ndarray | None]]]:
        """(first position, arrays) per shard, read ``prefetch`` shards ahead; whole shards are read."""
        with ThreadPoolExecutor(self.prefetch, thread_name_prefix="chip-shard") as pool:
            pending: deque[tuple[int, Future[Any]]] = deque()
            queue = iter(shards)
            for first, stop in queue:
                pending.append((first, pool.submit(self._read_shard, first, stop)))
                if len(pending) > self.prefetch:  # keep `prefetch` reads going while one is consumed
                    position, future = pending.popleft()
                    yield position, future.result()
            while pending:
                position, future = pending.popleft()
                yield position, future.result()

    def _read_shard(self, first: int, stop: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Read the whole shard holding split positions ``[first, stop)`` (one request), keep those."""
        begin = self.start + first - (self.start + first) % self.shard_samples
        image, label = self._read(begin, begin + self.shard_samples)
        keep = slice(self.start + first - begin, self.start + stop - begin)
        return image[keep], None if label is None else label[keep]

    def _samples(self, first: int, image: np.ndarray, label: np.ndarray | None) -> Iterator[Sample]:
        if self._band_index is not None:
            image = image[:, self._band_index]
        valid = np.isfinite(image).all(axis=1)
        if self.normalize:  # in place: the block is ours (a fresh read, or a copy made by band selection)
            image = np.subtract(image, self._mean, out=image if image.flags.writeable else None)
            np.divide(image, self._std, out=image)
            np.nan_to_num(image, copy=False, nan=0.0)
        for offset in range(len(image)):
            position = first + offset
            sample = {"image": image[offset], "valid": valid[offset], "index": position}
            if label is not None:
                sample["label"] = label[offset]
            sample.update({name: self._meta[name][position] for name in METADATA})
            sample["bounds"] = np.array([self._meta[name][position] for name in BOUND_NAMES])
            yield sample


def open_chip_group(url: str, sensor: str, storage_options: dict[str, Any] | None = None) -> xr.Dataset:
    """Open one sensor group of a chip store lazily, through its consolidated metadata.

    Raises:
        StoreError: no store at ``url``, no consolidated metadata, not a chip store, or no such sensor.
    """
    options = {} if storage_options is None else {"storage_options": storage_options}
    try:
        root = zarr.open_group(url, mode="r", use_consolidated=True, zarr_format=3, **options)
    except (FileNotFoundError, zarr.errors.NodeNotFoundError) as exc:
        raise StoreError(f"no chip store at {url}: check the URL (it ends in .zarr)") from exc
    except ValueError as exc:
        if "onsolidated" not in str(exc):  # zarr says "Consolidated metadata requested ... but not found"
            raise
        raise StoreError(
            f"chip store {url} has no consolidated metadata, so it cannot be read over HTTP; write it with "
            "ChipStoreWriter.close() or run zarr.consolidate_metadata on it"
        ) from exc
    sensors = sorted(root.group_keys())
    if sensor not in sensors:
        raise StoreError(f"chip store {url} has no sensor group {sensor!r}; choose one of {sensors}")
    if VERSION_ATTR not in root[sensor].attrs:
        raise StoreError(f"{url}/{sensor} is not a chip store group (no {VERSION_ATTR!r} attribute)")
    return xr.open_zarr(root.store, group=sensor, consolidated=True, chunks=None)


def _coordinates(dataset: xr.Dataset, names: Sequence[str], part: slice) -> dict[str, np.ndarray]:
    """Per-sample coordinates, read concurrently (one request each over HTTP)."""
    with ThreadPoolExecutor(len(names), thread_name_prefix="chip-coords") as pool:
        values = pool.map(lambda name: dataset[name].values[part], names)
        return dict(zip(names, values, strict=True))


def _to_torch(sample: Sample) -> Sample:
    import torch

    out = dict(sample)
    for key in ("image", "valid", "label", "bounds"):
        if key in out:
            out[key] = torch.from_numpy(np.ascontiguousarray(out[key]))
    out["time"] = str(np.datetime_as_string(out["time"], unit="s"))
    out.update({key: int(out[key]) for key in ("index", "chip_row", "chip_col", "epsg")})
    return out


def _torch_classes() -> dict[str, type]:
    """``TorchChipDataset`` (iterable) and ``TorchChipMapDataset``, made on first use: torch is optional."""
    made = globals().get("_TORCH_CLASSES")
    if made is not None:
        return made
    try:
        from torch.utils.data import Dataset, IterableDataset, get_worker_info
    except ImportError as exc:
        raise StoreError("as_torch() needs torch: pip install 'ml4earth-stac[train]'") from exc

    class TorchChipDataset(IterableDataset):
        """Shards of a :class:`ChipDataset` as tensors; DataLoader worker ``k`` of ``n`` reads shards k::n."""

        def __init__(self, chips: ChipDataset) -> None:
            self.chips = chips

        def __len__(self) -> int:
            return len(self.chips)

        def __iter__(self) -> Iterator[Sample]:
            shards = self.chips.shard_ranges()
            worker = get_worker_info()
            if worker is not None:
                shards = shards[worker.id :: worker.num_workers]
            return (_to_torch(sample) for sample in self.chips.iter_shards(shards))

    class TorchChipMapDataset(Dataset):
        """Samples of a :class:`ChipDataset` by index, as tensors (one read per sample: for shuffling)."""

        def __init__(self, chips: ChipDataset) -> None:
            self.chips = chips

        def __len__(self) -> int:
            return len(self.chips)

        def __getitem__(self, index: int) -> Sample:
            return _to_torch(self.chips[index])

    made = {"TorchChipDataset": TorchChipDataset, "TorchChipMapDataset": TorchChipMapDataset}
    for name, cls in made.items():
        cls.__module__, cls.__qualname__ = __name__, name
    globals()["_TORCH_CLASSES"] = made
    return made


def __getattr__(name: str) -> Any:
    """The torch dataset classes on demand (so that pickle finds them in spawned DataLoader workers)."""
    if name in ("TorchChipDataset", "TorchChipMapDataset"):
        return _torch_classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
