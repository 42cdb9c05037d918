"""The chip store: ML-ready chips of one benchmark, one Zarr v3 store, one group per sensor.

Layout (the contract :class:`~ml4earth_stac.store.dataset.ChipDataset` and the STAC assets rely on)::

    chips.zarr/<sensor>/
        image   (sample, band, y, x) float32, physical values, NaN = nodata
        label   (sample, y, x)       uint8 class values, 255 = nodata/ignore (attribute ``nodata``)
        band    (band)               band names, with common_name, center_wavelength, full_width_half_max
        aoi, time, split, chip_row, chip_col, x_min, y_min, x_max, y_max, epsg, source_item   per sample

Samples are ordered by split (train, then val, then test). Each split starts on a shard boundary, so a
shard never mixes splits; the slots after a split's last chip up to the next boundary are padding (split
``""``, NaN image, label 255; they take no bytes). ``split_ranges`` says which samples a split holds. A
chunk is one sample, a shard ``shard_samples`` samples: a loader reads a whole shard with one request.

Group attributes: ``normalization`` (train-split band statistics, as given), ``classes``,
``class_frequencies``, ``split_ranges``, ``chip_px``, ``shard_samples``, ``label_nodata``, ``proj:code``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Final

import numpy as np
import xarray as xr
import zarr
import zarr.codecs

from ml4earth_stac.errors import StoreError
from ml4earth_stac.sensors.adapters import BandMeta

SPLITS: Final = ("train", "val", "test")
"""Split names in store order (the same names as :data:`ml4earth_stac.labels.splits.SPLIT_NAMES`)."""
LABEL_NODATA: Final = 255
DEFAULT_SHARD_SAMPLES: Final = 16
STORE_VERSION: Final = 1
VERSION_ATTR: Final = "ml4earth:chip_store"
TIME_ENCODING: Final = {
    "units": "seconds since 1970-01-01",
    "calendar": "proleptic_gregorian",
    "dtype": "int64",
    "_FillValue": np.iinfo("int64").min,  # padding slots have no time (NaT)
}
COMPRESSOR: Final = zarr.codecs.BloscCodec(
    cname="zstd", clevel=3, shuffle=zarr.codecs.BloscShuffle.bitshuffle
)  # the cube store's codec
BOUND_NAMES: Final = ("x_min", "y_min", "x_max", "y_max")
SAMPLE_COORDINATES: Final = MappingProxyType(
    {
        "aoi": (object, ""),
        "time": ("datetime64[ns]", np.datetime64("NaT")),
        "split": (object, ""),
        "chip_row": ("int64", -1),
        "chip_col": ("int64", -1),
        **dict.fromkeys(BOUND_NAMES, ("float64", np.nan)),
        "epsg": ("int64", 0),
        "source_item": (object, ""),
    }
)
"""The per-sample coordinates (1-D along ``sample``): name -> (dtype, value in padding slots)."""
BAND_COORDINATES: Final = ("common_name", "center_wavelength", "full_width_half_max")

Bounds = tuple[float, float, float, float]


@dataclass(frozen=True)
class ChipSample:
    """One chip of one sensor: pixels, label and where it came from.

    Attributes:
        image: ``(band, y, x)`` physical values, NaN = nodata (cast to float32).
        label: ``(y, x)`` class values 0-254, 255 = nodata/ignore (cast to uint8).
        aoi: the AOI name.
        time: acquisition time of the upstream scene (naive = UTC).
        split: ``train``, ``val`` or ``test``.
        chip_row: top row of the chip in the AOI grid, in pixels.
        chip_col: left column of the chip in the AOI grid, in pixels.
        bounds: ``(min_x, min_y, max_x, max_y)`` of the chip in its CRS.
        epsg: EPSG code of the chip's CRS.
        source_item: the upstream STAC item id.
    """

    image: np.ndarray
    label: np.ndarray
    aoi: str
    time: datetime | np.datetime64
    split: str
    chip_row: int
    chip_col: int
    bounds: Bounds
    epsg: int
    source_item: str


def plan_layout(counts: Mapping[str, int], shard_samples: int) -> dict[str, tuple[int, int]]:
    """Where each split's slots lie: ``{split: (start, capacity)}``, starts on shard boundaries.

    Raises:
        StoreError: an unknown split name, a negative count, or no sample at all.
    """
    if set(counts) - set(SPLITS) or any(n < 0 for n in counts.values()) or sum(counts.values()) == 0:
        raise StoreError(
            f"chip counts {dict(counts)} are not usable: give non-negative counts of splits {list(SPLITS)}, "
            "at least one chip in all"
        )
    layout, start = {}, 0
    for split in SPLITS:
        capacity = counts.get(split, 0)
        layout[split] = (start, capacity)
        start += math.ceil(capacity / shard_samples) * shard_samples
    return layout


class ChipStoreWriter:
    """Streams the chips of one sensor into a staged group, published whole by :meth:`close`.

    Chips may come in any order; each split fills its slots in arrival order. Memory holds at most one
    shard per split. Everything is written under ``.<store>.<sensor>.staging`` beside the store and moved
    into place by :meth:`close`, so the final path never shows a half-written group; used as a context
    manager, an exception discards the staging. Writers of other sensors of the same store may run at
    the same time, but their ``close`` calls must not overlap. Local paths only.

    Args:
        path: the store, e.g. ``<publication>/chips.zarr`` (created, or given a new sensor group).
        sensor: the group name, e.g. ``sentinel-2``.
        bands: band names or :class:`~ml4earth_stac.sensors.adapters.BandMeta`-like objects, in order.
        chip_px: chip edge in pixels.
        classes: ``[{"value": int, "name": str}, ...]``.
        counts: planned chips per split; fewer may arrive (trailing slots stay padding), never more.
        shard_samples: samples per shard.
        image_attrs: extra attributes of ``image`` (e.g. ``long_name``, ``units``).

    Raises:
        StoreError: bad counts, bands or classes.
    """

    def __init__(
        self,
        path: str | Path,
        sensor: str,
        bands: Sequence[BandMeta | str],
        chip_px: int,
        classes: Sequence[Mapping[str, Any]],
        counts: Mapping[str, int],
        shard_samples: int = DEFAULT_SHARD_SAMPLES,
        image_attrs: Mapping[str, Any] | None = None,
    ) -> None:
        if shard_samples < 1 or chip_px < 1 or not bands:
            raise StoreError(f"chip store {path}: need bands, chip_px >= 1 and shard_samples >= 1")
        self.path, self.sensor = Path(path), sensor
        self.bands = tuple(_band_meta(b) for b in bands)
        self.chip_px, self.shard_samples = chip_px, shard_samples
        self.classes = _checked_classes(classes)
        self.layout = plan_layout(counts, shard_samples)
        self.written = dict.fromkeys(SPLITS, 0)
        self.staging = self.path.parent / f".{self.path.name}.{sensor}.staging"
        self.total_slots = sum(
            math.ceil(cap / shard_samples) * shard_samples for _, cap in self.layout.values()
        )
        self._pending: dict[str, list[ChipSample]] = {split: [] for split in SPLITS}
        self._slots: list[int] = []  # the slot of every written chip, in write order
        self._meta: dict[str, list[Any]] = {name: [] for name in SAMPLE_COORDINATES}
        shutil.rmtree(self.staging, ignore_errors=True)  # a stale staging of a crashed run
        self._group = self._create_group(dict(image_attrs or {}))

    def add(self, sample: ChipSample) -> None:
        """Add one chip; its split's shard is written once it is full.

        Raises:
            StoreError: the chip does not fit the store (shape, split, label values) or its split is full.
        """
        self._check(sample)
        start, capacity = self.layout[sample.split]
        if self.written[sample.split] + len(self._pending[sample.split]) >= capacity:
            raise StoreError(f"{_name(sample)}: split {sample.split!r} was planned for {capacity} chips")
        self._pending[sample.split].append(sample)
        if (start + self.written[sample.split] + len(self._pending[sample.split])) % self.shard_samples == 0:
            self._flush(sample.split)

    def write(self, samples: Iterable[ChipSample]) -> None:
        """Add chips of any splits, in any order (see :meth:`add`); call it as often as convenient."""
        for sample in samples:
            self.add(sample)

    def close(
        self, normalization: Mapping[str, Any], class_frequencies: Mapping[str, Any] | None = None
    ) -> Path:
        """Write the last shards, coordinates and attributes, consolidate, and move the group into place.

        Args:
            normalization: train-split band statistics, JSON-ready, with per-band lists ``mean`` and
                ``std`` in band order (e.g. ``BandStatisticsResult.to_dict()``).
            class_frequencies: class counts per split, JSON-ready (e.g. ``ClassFrequenciesResult.to_dict()``).

        Returns:
            The store path.

        Raises:
            StoreError: no chip was written, or the statistics do not fit the bands; the staging is removed.
        """
        try:
            for split in SPLITS:
                self._flush(split)
            if not any(self.written.values()):
                raise StoreError(f"no chips of {self.sensor} were written to {self.path}; nothing to publish")
            self._coordinates().to_zarr(
                self.staging,
                group=self.sensor,
                mode="a",
                consolidated=False,
                encoding={"time": TIME_ENCODING},
            )
            self._group.attrs.update(self._attributes(normalization, class_frequencies))
            _publish(self.staging, self.path, self.sensor)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Discard everything written so far (the published store, if any, is untouched)."""
        shutil.rmtree(self.staging, ignore_errors=True)

    def __enter__(self) -> ChipStoreWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is not None:
            self.abort()

    def _create_group(self, image_attrs: dict[str, Any]) -> zarr.Group:
        """Lay out the image and label arrays for every slot (metadata only; chips fill them later)."""
        coordinates = " ".join([*SAMPLE_COORDINATES, *BAND_COORDINATES])
        image_attrs = {"long_name": "physical values, NaN = nodata", **image_attrs}
        group = zarr.open_group(self.staging, mode="w", zarr_format=3).create_group(self.sensor)
        pixels = (self.chip_px, self.chip_px)
        for name, dims, shape, dtype, fill, attrs in (
            ("image", ("band", "y", "x"), (len(self.bands), *pixels), "float32", np.nan, image_attrs),
            ("label", ("y", "x"), pixels, "uint8", LABEL_NODATA, _label_attributes(self.classes)),
        ):
            group.create_array(
                name,
                shape=(self.total_slots, *shape),
                dtype=dtype,
                chunks=(1, *shape),
                shards=(self.shard_samples, *shape),
                compressors=(COMPRESSOR,),
                fill_value=fill,
                dimension_names=("sample", *dims),
                attributes={**attrs, "coordinates": coordinates},
            )
        return group

    def _check(self, sample: ChipSample) -> None:
        shape = (len(self.bands), self.chip_px, self.chip_px)
        if sample.split not in SPLITS:
            raise StoreError(f"{_name(sample)} has split {sample.split!r}; use one of {list(SPLITS)}")
        if np.shape(sample.image) != shape or np.shape(sample.label) != shape[1:]:
            raise StoreError(
                f"{_name(sample)}: image {np.shape(sample.image)} / label {np.shape(sample.label)} do not "
                f"match (band, y, x) = {shape} of {self.path}/{self.sensor}"
            )
        label = np.asarray(sample.label)
        if label.dtype != np.uint8 and (label.dtype.kind not in "iu" or label.min() < 0 or label.max() > 255):
            raise StoreError(f"{_name(sample)}: labels must be integers 0-255, got {label.dtype}")
        if len(sample.bounds) != 4:
            raise StoreError(f"{_name(sample)}: bounds must be (min_x, min_y, max_x, max_y)")

    def _flush(self, split: str) -> None:
        pending = self._pending[split]
        if not pending:
            return
        first = self.layout[split][0] + self.written[split]
        region = slice(first, first + len(pending))
        self._group["image"][region] = np.stack([np.asarray(s.image, dtype="float32") for s in pending])
        self._group["label"][region] = np.stack([np.asarray(s.label, dtype="uint8") for s in pending])
        self._slots.extend(range(region.start, region.stop))
        for sample in pending:
            for name, value in _sample_values(sample).items():
                self._meta[name].append(value)
        self.written[split] += len(pending)
        self._pending[split] = []

    def _coordinates(self) -> xr.Dataset:
        coords: dict[str, Any] = {}
        for name, values in self._meta.items():
            dtype, padding = SAMPLE_COORDINATES[name]
            column = np.full(self.total_slots, padding, dtype=dtype)
            column[self._slots] = values
            coords[name] = ("sample", column)
        coords.update(_band_coordinates(self.bands))
        return xr.Dataset(coords=coords)

    def _attributes(
        self, normalization: Mapping[str, Any], class_frequencies: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        epsgs = set(self._meta["epsg"])
        epsg = epsgs.pop() if len(epsgs) == 1 else None
        attrs = {
            VERSION_ATTR: STORE_VERSION,
            "sensor": self.sensor,
            "chip_px": self.chip_px,
            "shard_samples": self.shard_samples,
            "split_ranges": {s: [start, start + self.written[s]] for s, (start, _) in self.layout.items()},
            "normalization": _checked_normalization(normalization, self.bands, self.path),
            "classes": self.classes,
            "class_frequencies": None if class_frequencies is None else dict(class_frequencies),
            "label_nodata": LABEL_NODATA,
            "proj:code": None if epsg is None else f"EPSG:{epsg}",
            "proj:epsg": epsg,
        }
        _check_json(attrs, self.path)
        return attrs


def _name(sample: ChipSample) -> str:
    return f"chip ({sample.chip_row}, {sample.chip_col}) of {sample.aoi} from {sample.source_item}"


def _band_meta(band: BandMeta | str) -> BandMeta:
    return BandMeta(
        str(getattr(band, "name", band)),
        getattr(band, "common_name", None),
        getattr(band, "center_wavelength", None),
        getattr(band, "full_width_half_max", None),
    )


def _checked_classes(classes: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    try:
        checked = [{"value": int(c["value"]), "name": str(c["name"])} for c in classes]
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"classes must be [{{'value': int, 'name': str}}, ...], got {classes!r}") from exc
    values = [c["value"] for c in checked]
    if len(set(values)) != len(values) or not all(0 <= v < LABEL_NODATA for v in values):
        raise StoreError(f"class values {values} must be distinct and 0-{LABEL_NODATA - 1}")
    return checked


def _checked_normalization(
    normalization: Mapping[str, Any], bands: Sequence[BandMeta], path: Path
) -> dict[str, Any]:
    names = [b.name for b in bands]
    stats = dict(normalization)
    for key in ("mean", "std"):
        if len(stats.get(key) or ()) != len(bands):
            raise StoreError(
                f"normalization of {path} needs a {key!r} list of {len(bands)} values (bands {names}); "
                "pass BandStatisticsResult.to_dict() of the train chips"
            )
    if stats.setdefault("bands", names) != names:
        raise StoreError(f"normalization is for bands {stats['bands']}, the store holds {names}")
    return stats


def _check_json(attrs: Mapping[str, Any], path: Path) -> None:
    try:
        json.dumps(attrs, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"attributes of {path} are not JSON-ready (use None, not NaN): {exc}") from exc


def _as_datetime64(value: datetime | np.datetime64) -> np.datetime64:
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(value, "ns")


def _sample_values(sample: ChipSample) -> dict[str, Any]:
    """The per-sample coordinates of a chip, named as :data:`SAMPLE_COORDINATES`."""
    return {
        "aoi": sample.aoi,
        "time": _as_datetime64(sample.time),
        "split": sample.split,
        "chip_row": int(sample.chip_row),
        "chip_col": int(sample.chip_col),
        **{name: float(v) for name, v in zip(BOUND_NAMES, sample.bounds, strict=True)},
        "epsg": int(sample.epsg),
        "source_item": sample.source_item,
    }


def _band_coordinates(bands: Sequence[BandMeta]) -> dict[str, Any]:
    def floats(values: Iterable[float | None]) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], dtype="float32")

    return {
        "band": ("band", np.array([b.name for b in bands], dtype=object)),
        "common_name": ("band", np.array([b.common_name or "" for b in bands], dtype=object)),
        "center_wavelength": ("band", floats(b.center_wavelength for b in bands), {"units": "um"}),
        "full_width_half_max": ("band", floats(b.full_width_half_max for b in bands), {"units": "um"}),
    }


def _label_attributes(classes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """CF flag attributes of the classes, plus the nodata value."""
    return {
        "long_name": "class value",
        "nodata": LABEL_NODATA,
        "flag_values": [c["value"] for c in classes],
        "flag_meanings": " ".join(str(c["name"]).replace(" ", "_") for c in classes),
    }


def _publish(staging: Path, path: Path, sensor: str) -> None:
    """Move the staged group into the store: the whole store if there is none, else just the group."""
    if not path.exists():
        _consolidate(staging)
        try:
            os.rename(staging, path)
            return
        except OSError:
            if not path.exists():
                raise  # else another sensor's writer created the store meanwhile: merge below
    old = path.parent / f".{path.name}.{sensor}.old"
    shutil.rmtree(old, ignore_errors=True)
    if (path / sensor).exists():
        os.rename(path / sensor, old)
    os.rename(staging / sensor, path / sensor)
    _consolidate(path)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)


def _consolidate(store: Path) -> None:
    """Record the store's sensors and write consolidated metadata (needed to open it over HTTP)."""
    root = zarr.open_group(store, mode="r+", zarr_format=3, use_consolidated=False)
    root.attrs.update({VERSION_ATTR: STORE_VERSION, "sensors": sorted(root.group_keys())})
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        zarr.consolidate_metadata(str(store), zarr_format=3)
