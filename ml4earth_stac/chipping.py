"""Cubes + labels -> the chip store of a benchmark: labels per scene, chip grid, filters, splits, statistics.

One short, one-way pass per AOI, for the recipe's ``labels.sensor``:

1. the chip grid of each AOI (:func:`~ml4earth_stac.grid.iter_chips`) is split into spatially disjoint
   train/val/test sets once (:func:`~ml4earth_stac.labels.assign_splits`): a place keeps its split at every
   date, so no test pixel is ever seen in training;
2. the labels of every scene of the cube are burned onto the AOI grid in recipe order (per-scene rasters by
   ``{item_id}``, dated vector labels matched to the nearest scene within the tolerance, static polygons on
   every scene); pixels no label covers are 255 (ignore);
3. every chip of every scene is kept when enough of it is valid (all bands finite) and labelled; kept
   chips stream into the :class:`~ml4earth_stac.store.chips.ChipStoreWriter`, and train chips feed the
   band statistics that become the stored normalization.

Nothing is published here: the store is written under the run's staging folder.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import geopandas
import numpy as np
import pandas as pd
import xarray as xr

from ml4earth_stac.config import Chips, Labels, LabelSource, Recipe, Splits
from ml4earth_stac.errors import LabelError, RecipeError, StoreError
from ml4earth_stac.grid import Chip, GridSpec, aoi_grid, iter_chips
from ml4earth_stac.labels import (
    BandStatistics,
    ChipFootprint,
    ClassFrequencies,
    SplitAssignment,
    assign_splits,
    match_labels_to_scenes,
    rasterize_binary,
    rasterize_classes,
    rasterize_lines,
    read_labels,
    read_raster_label,
    repair_geometries,
)
from ml4earth_stac.sensors.adapters import SensorAdapter, adapter_for
from ml4earth_stac.store.chips import LABEL_NODATA, ChipSample, ChipStoreWriter
from ml4earth_stac.store.cube import open_cube_group

# Histogram ranges of the percentiles per physical unit (values outside still count, in the end bins).
STAT_RANGES: Final = {"1": (-0.2, 1.6), "dB": (-50.0, 20.0)}


@dataclass
class ChipSummary:
    """What the chip stage made, for the run report and the STAC collection.

    Attributes:
        sensor: the chipped sensor.
        counts: chips written per split.
        dropped: chips left out per reason (``cloudy``, ``invalid``, ``unlabelled``, ``buffer`` = positions
            dropped by the split buffer, counted once per scene).
        unused_labels: (label, reason) of labels that went with no scene or could not be read.
        class_counts: per split, pixel count per class value.
        class_pixels: per (AOI, split), pixel count per class value.
        chip_counts: chips written per (AOI, split).
        footprints: per (AOI, split), the bounds of the chip positions holding at least one chip.
        scenes: per (AOI, split), the upstream item ids the chips come from.
        assignment: the split assignment as recorded (method, seed, fractions...).
        normalization: the train-split band statistics stored with the chips.
        epsg: per AOI, the grid's EPSG code.
    """

    sensor: str
    counts: dict[str, int] = field(default_factory=dict)
    dropped: Counter[str] = field(default_factory=Counter)
    unused_labels: list[tuple[str, str]] = field(default_factory=list)
    class_counts: dict[str, dict[int, int]] = field(default_factory=dict)
    class_pixels: dict[tuple[str, str], Counter[int]] = field(default_factory=dict)
    chip_counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    footprints: dict[tuple[str, str], list[tuple[float, float, float, float]]] = field(default_factory=dict)
    scenes: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    assignment: dict[str, Any] = field(default_factory=dict)
    normalization: dict[str, Any] = field(default_factory=dict)
    epsg: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Position:
    aoi: str
    chip: Chip
    split: str | None


def build_chips(
    recipe: Recipe, cube_store: Path, chips_store: Path, labels_root: str | None = None
) -> list[ChipSummary]:
    """Write the chip store of a recipe with ``labels``/``chips``/``splits`` from its cube store.

    Every sensor of ``labels.sensors`` gets its group in the store; they share the chip positions and so
    the splits (a place is in the same split for every sensor).

    Args:
        recipe: the benchmark (must have ``labels``, ``chips`` and ``splits``).
        cube_store: the cube Zarr written by the ingest stage.
        chips_store: where the chip Zarr goes (one group per sensor).
        labels_root: folder or URL that relative label hrefs are resolved against (None: the cwd).

    Returns:
        One summary per sensor, in ``labels.sensors`` order.

    Raises:
        StoreError: a sensor has no scene to chip or no train chip passed the filters (nothing is published).
        LabelError: a label file cannot be read or its geometries are unusable.
    """
    labels, chips, splits = recipe.labels, recipe.chips, recipe.splits
    if labels is None or chips is None or splits is None:
        raise StoreError(f"recipe {recipe.id} has no labels/chips/splits; nothing to chip")
    grids = {aoi.name: aoi_grid(aoi.geometry, recipe.grid.crs, recipe.grid.resolution) for aoi in recipe.aois}
    positions, assignment = _split_positions(recipe.id, chips, splits, grids)
    summaries = []
    for sensor in labels.sensors:
        chipper = _Chipper(labels, chips, adapter_for(sensor), labels_root, ChipSummary(sensor))
        chipper.summary.assignment = assignment.to_dict()
        chipper.summary.epsg = {name: grid.epsg for name, grid in grids.items()}
        summaries.append(_chip_sensor(recipe.id, chipper, cube_store, chips_store, grids, positions))
    return summaries


def _chip_sensor(
    recipe_id: str,
    chipper: _Chipper,
    cube_store: Path,
    chips_store: Path,
    grids: Mapping[str, GridSpec],
    positions: list[_Position],
) -> ChipSummary:
    """Write the chip group of one sensor."""
    adapter = chipper.adapter
    cubes = {
        name: cube
        for name in grids
        if (cube := open_cube_group(cube_store, name, adapter.sensor, consolidated=False)) is not None
    }
    capacity = Counter(p.split for p in positions if p.split is not None for _ in range(_times(cubes, p.aoi)))
    if not capacity:
        raise StoreError(f"no scenes of {adapter.sensor} to chip for {recipe_id}; check the ingest report")
    bands = [adapter.band(str(b)) for b in next(iter(cubes.values()))["band"].values]
    writer = ChipStoreWriter(
        chips_store,
        adapter.sensor,
        bands,
        chipper.chips.size_px,
        [c.model_dump() for c in chipper.labels.classes],
        dict(capacity),
        image_attrs={"long_name": adapter.long_name, "units": adapter.units},
    )
    with writer:
        for aoi, cube in cubes.items():
            writer.write(chipper.samples(aoi, grids[aoi], cube, [p for p in positions if p.aoi == aoi]))
        return chipper.finish(writer, [b.name for b in bands], recipe_id)


def check_label_sources(labels: Labels, labels_root: str | None) -> None:
    """Fail fast, before any ingest, when a local label file (or a per-scene label folder) is missing.

    URLs are not fetched here; they are read, and reported if unreadable, by the chip stage.

    Raises:
        RecipeError: naming the label href, where it was looked for, and the ``labels_root`` setting.
    """
    for source in labels.sources:
        href = resolve_href(source.href, labels_root)
        if "://" in href:
            continue
        templated = "{" in href
        path = Path(os.path.dirname(href.split("{", 1)[0]) or ".") if templated else Path(href)
        if not path.exists():
            root = labels_root or "the cwd"
            raise RecipeError(
                f"label source {source.href!r} was looked for at {path}, which does not exist; set "
                f"labels_root (--labels-root) to the folder or URL of the labels (now {root})"
            )


def _times(cubes: Mapping[str, xr.Dataset], aoi: str) -> int:
    return cubes[aoi].sizes["time"] if aoi in cubes else 0


def _split_positions(
    recipe_id: str, chips: Chips, splits: Splits, grids: Mapping[str, GridSpec]
) -> tuple[list[_Position], SplitAssignment]:
    """Every chip position of every AOI, with its split (None: dropped by the buffer)."""
    places = [
        (aoi, chip)
        for aoi, grid in grids.items()
        for chip in iter_chips(grid, chips.size_px, chips.overlap_px)
    ]
    if not places:
        raise StoreError(f"the AOIs of {recipe_id} are smaller than one chip of {chips.size_px} px")
    assignment = assign_splits(
        [ChipFootprint.from_chip(aoi, chip, grids[aoi]) for aoi, chip in places],
        method=splits.method,
        fractions=dict(splits.fractions),
        seed=splits.seed,
        block_m=splits.block_m,
        buffer_m=splits.buffer_m,
    )
    positions = [
        _Position(aoi, chip, split) for (aoi, chip), split in zip(places, assignment.splits, strict=True)
    ]
    return positions, assignment


@dataclass(frozen=True)
class _Vector:
    """The features of one vector label source for one AOI, and the scene (time index) of each, if dated."""

    frame: geopandas.GeoDataFrame | None
    scene_of: Mapping[int, int] | None  # feature position -> time index; None: static (every scene)


@dataclass
class _Chipper:
    """Labels, filters and statistics of one chip stage run."""

    labels: Labels
    chips: Chips
    adapter: SensorAdapter
    labels_root: str | None
    summary: ChipSummary
    stats: BandStatistics | None = None
    frequencies: ClassFrequencies = field(default_factory=lambda: ClassFrequencies(nodata=LABEL_NODATA))

    def samples(
        self, aoi: str, grid: GridSpec, cube: xr.Dataset, positions: list[_Position]
    ) -> Iterator[ChipSample]:
        """The kept chips of every scene of one AOI's cube (train chips also feed the statistics)."""
        times = [pd.Timestamp(t).to_pydatetime() for t in cube["time"].values]
        vectors = [self._vector(source, aoi, times) for source in self.labels.sources]
        static: dict[int, np.ndarray] = {}  # burned static vector labels, the same at every date
        for t, item_id in enumerate(str(i) for i in cube["item_id"].values):
            label = self._scene_label(vectors, grid, aoi, t, item_id, static)
            image = np.asarray(cube[self.adapter.variable].isel(time=t).values, dtype=np.float32)
            mask_name = self.adapter.mask_variable
            mask = cube[mask_name].isel(time=t).values if mask_name in cube else None  # SCL, QA_PIXEL
            for position in positions:
                sample = self._sample(position, (image, label, mask), grid, times[t], item_id)
                if sample is not None:
                    self._count(sample)
                    yield sample

    def _sample(
        self,
        position: _Position,
        planes: tuple[np.ndarray, np.ndarray, np.ndarray | None],
        grid: GridSpec,
        when: dt.datetime,
        item_id: str,
    ) -> ChipSample | None:
        """The chip at ``position`` of one scene (image, label, mask plane); None when a filter drops it."""
        if position.split is None:
            self.summary.dropped["buffer"] += 1
            return None
        image, label, mask = planes
        rows, cols = position.chip.slices
        chip_image, chip_label = image[:, rows, cols], label[rows, cols]
        if mask is not None and self.adapter.fractions(mask[rows, cols])[1] > self.chips.max_cloud_fraction:
            self.summary.dropped["cloudy"] += 1
            return None
        if np.isfinite(chip_image).all(axis=0).mean() < self.chips.min_valid_fraction:
            self.summary.dropped["invalid"] += 1
            return None
        if (chip_label != LABEL_NODATA).mean() < self.chips.min_label_fraction:
            self.summary.dropped["unlabelled"] += 1
            return None
        return ChipSample(
            image=chip_image,
            label=chip_label,
            aoi=position.aoi,
            time=when,
            split=position.split,
            chip_row=position.chip.row,
            chip_col=position.chip.col,
            bounds=position.chip.bounds(grid),
            epsg=grid.epsg,
            source_item=item_id,
        )

    def _count(self, sample: ChipSample) -> None:
        summary, key = self.summary, (sample.aoi, sample.split)
        summary.counts[sample.split] = summary.counts.get(sample.split, 0) + 1
        summary.chip_counts[key] += 1
        bounds = summary.footprints.setdefault(key, [])
        if sample.bounds not in bounds:
            bounds.append(sample.bounds)
        summary.scenes.setdefault(key, set()).add(sample.source_item)
        counts = np.bincount(sample.label.ravel(), minlength=LABEL_NODATA + 1)[:LABEL_NODATA]
        summary.class_pixels.setdefault(key, Counter()).update(
            {int(v): int(counts[v]) for v in np.flatnonzero(counts)}
        )
        self.frequencies.update(sample.split, sample.label)
        if sample.split == "train":
            if self.stats is None:
                ranges = [STAT_RANGES.get(self.adapter.units, (-1e4, 1e4))] * sample.image.shape[0]
                self.stats = BandStatistics(sample.image.shape[0], ranges=ranges)
            self.stats.update(sample.image)

    def finish(self, writer: ChipStoreWriter, bands: list[str], recipe_id: str) -> ChipSummary:
        """Close the store with the train statistics; the summary of the stage."""
        if not self.summary.counts.get("train") or self.stats is None:
            raise StoreError(
                f"no train chip of {recipe_id} passed the filters (dropped: {dict(self.summary.dropped)}); "
                "lower chips.min_valid_fraction / chips.min_label_fraction or check the labels"
            )
        self.summary.normalization = {"bands": bands, **self.stats.result().to_dict()}
        frequencies = self.frequencies.result()
        writer.close(self.summary.normalization, frequencies.to_dict())
        self.summary.class_counts = {split: frequencies.counts_of(split) for split in self.summary.counts}
        return self.summary

    def _vector(self, source: LabelSource, aoi: str, times: list[dt.datetime]) -> _Vector:
        if source.kind == "raster":
            return _Vector(None, None)
        href = resolve_href(source.href.format(aoi=aoi), self.labels_root)
        frame, problems = repair_geometries(read_labels(href))
        self.summary.unused_labels += [
            (f"{href}#{p.feature_id}", p.reason) for p in problems if p.action == "rejected"
        ]
        if source.aoi_field is not None:
            frame = frame[_column(frame, source.aoi_field, href).astype(str).str.lower() == aoi.lower()]
            frame = frame.reset_index(drop=True)
        if source.date_field is None or frame.empty:
            return _Vector(frame, None)
        dates = [pd.Timestamp(d).to_pydatetime() for d in _column(frame, source.date_field, href)]
        tolerance = dt.timedelta(days=self.labels.date_tolerance_days)
        match = match_labels_to_scenes(dates, times, tolerance)
        self.summary.unused_labels += [(f"{href}#{i} ({aoi})", reason) for i, reason in match.unused]
        return _Vector(frame, dict(match.matched))

    def _scene_label(
        self,
        vectors: list[_Vector],
        grid: GridSpec,
        aoi: str,
        t: int,
        item_id: str,
        static: dict[int, np.ndarray],
    ) -> np.ndarray:
        """The label of one scene on the AOI grid: the sources burned in order, 255 where none has a class.

        ``static`` caches the burned layer (255 = not covered) of each static vector source by position.
        """
        background = self.labels.background
        label = np.full(grid.shape, LABEL_NODATA if background is None else background, dtype=np.uint8)
        for source, vector in zip(self.labels.sources, vectors, strict=True):
            if source.kind == "raster":
                href = resolve_href(source.href.format(item_id=item_id, aoi=aoi), self.labels_root)
                try:
                    values = read_raster_label(href, grid, fill=LABEL_NODATA)
                except LabelError as exc:
                    self.summary.unused_labels.append((href, str(exc)))
                    continue
                label = np.where(values != LABEL_NODATA, values, label).astype(np.uint8)
                continue
            frame = vector.frame
            if frame is None or frame.empty:
                continue
            if vector.scene_of is None:
                position = self.labels.sources.index(source)
                if position not in static:
                    empty = np.full(grid.shape, LABEL_NODATA, dtype=np.uint8)
                    static[position] = _burn_vector(empty, source, frame, grid, self._class_codes())
                label = np.where(static[position] != LABEL_NODATA, static[position], label).astype(np.uint8)
                continue
            frame = frame.iloc[[i for i, scene in vector.scene_of.items() if scene == t]]
            if not frame.empty:
                label = _burn_vector(label, source, frame, grid, self._class_codes())
        return label

    def _class_codes(self) -> dict[str, int]:
        classes = self.labels.classes
        return {c.name: c.value for c in classes} | {str(c.value): c.value for c in classes}


def _column(frame: geopandas.GeoDataFrame, name: str, href: str) -> pd.Series:
    if name not in frame.columns:
        raise LabelError(
            f"label file {href} has no field {name!r}; fields: {sorted(map(str, frame.columns))}"
        )
    return frame[name]


def _burn_vector(
    label: np.ndarray,
    source: LabelSource,
    frame: geopandas.GeoDataFrame,
    grid: GridSpec,
    codes: dict[str, int],
) -> np.ndarray:
    if source.kind == "lines":
        mask = rasterize_lines(frame, grid, float(source.width_m or 0)) > 0
        return np.where(mask, np.uint8(source.value or 0), label)
    if source.class_field is not None:
        classes = rasterize_classes(frame, grid, source.class_field, codes, fill=LABEL_NODATA)
        return np.where(classes != LABEL_NODATA, classes, label).astype(np.uint8)
    return np.where(rasterize_binary(frame, grid) > 0, np.uint8(source.value or 0), label)


def resolve_href(href: str, root: str | None) -> str:
    """A label href as read: URLs and absolute paths as given, relative ones under ``root`` (or the cwd)."""
    if "://" in href or Path(href).is_absolute() or root is None:
        return href
    if "://" in root:
        return f"{root.rstrip('/')}/{href}"
    return str(Path(root) / href)
