"""The chip store writer: layout by split, shards, coordinates, crash safety, several sensors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
import zarr

from ml4earth_stac.errors import StoreError
from ml4earth_stac.sensors.adapters import BandMeta
from ml4earth_stac.store.chips import LABEL_NODATA, ChipSample, ChipStoreWriter, plan_layout
from ml4earth_stac.store.dataset import ChipDataset

BANDS = (BandMeta("B02", "blue", 0.49, 0.098), BandMeta("B04", "red", 0.665, 0.038), "B11")
CLASSES = [{"value": 0, "name": "ocean"}, {"value": 1, "name": "glacier ice"}, {"value": 2, "name": "land"}]
PX, SHARD = 16, 4
COUNTS = {"train": 9, "val": 5, "test": 3}


def make_samples(counts: dict[str, int], seed: int = 0, nan_fraction: float = 0.0) -> list[ChipSample]:
    """Seeded random chips of every split, shuffled so that splits arrive interleaved."""
    rng = np.random.default_rng(seed)
    samples = []
    for split, n in counts.items():
        for i in range(n):
            image = rng.normal(0.2, 0.1, (len(BANDS), PX, PX)).astype("float32")
            image[rng.random(image.shape) < nan_fraction] = np.nan
            row, col = int(rng.integers(0, 50)) * PX, int(rng.integers(0, 50)) * PX
            samples.append(
                ChipSample(
                    image=image,
                    label=rng.integers(0, 3, (PX, PX)).astype("uint8"),
                    aoi=f"aoi-{i % 2}",
                    time=datetime(2021, 7, 1, tzinfo=UTC)
                    + timedelta(days=i, seconds=int(rng.integers(86400))),
                    split=split,
                    chip_row=row,
                    chip_col=col,
                    bounds=(
                        500000.0 + col * 10,
                        8e6 - (row + PX) * 10,
                        500000.0 + (col + PX) * 10,
                        8e6 - row * 10,
                    ),
                    epsg=32633,
                    source_item=f"S2A_{split}_{i:03d}",
                )
            )
    order = rng.permutation(len(samples))
    return [samples[i] for i in order]


def normalization(samples: Sequence[ChipSample]) -> dict[str, Any]:
    """Band statistics of the train chips, as the labels stage would give them."""
    train = np.stack([s.image for s in samples if s.split == "train"])
    return {
        "mean": [float(v) for v in np.nanmean(train, axis=(0, 2, 3))],
        "std": [float(v) for v in np.nanstd(train, axis=(0, 2, 3))],
        "percentiles": {"p2": [float(v) for v in np.nanpercentile(train, 2, axis=(0, 2, 3))]},
    }


def write_store(
    path: Path, samples: Sequence[ChipSample], counts: dict[str, int] = COUNTS, sensor: str = "sentinel-2"
) -> Path:
    """Write ``samples`` as one sensor group, with train statistics and class frequencies."""
    frequencies = {"nodata": LABEL_NODATA, "splits": {"train": {"fractions": {"0": 0.5, "1": 0.3, "2": 0.2}}}}
    with ChipStoreWriter(path, sensor, BANDS, PX, CLASSES, counts, shard_samples=SHARD) as writer:
        writer.write(samples)
        return writer.close(normalization(samples), frequencies)


def by_split(samples: Sequence[ChipSample], split: str) -> list[ChipSample]:
    return [s for s in samples if s.split == split]


def test_round_trip_orders_samples_by_split_in_whole_shards(tmp_path: Path) -> None:
    samples = make_samples(COUNTS)
    store = write_store(tmp_path / "chips.zarr", samples)
    group = xr.open_zarr(store, group="sentinel-2", consolidated=True, chunks=None)
    ranges = group.attrs["split_ranges"]
    assert ranges == {"train": [0, 9], "val": [12, 17], "test": [20, 23]}  # each split starts on a shard
    assert all(start % SHARD == 0 for start, _ in ranges.values())
    image = zarr.open_group(store, mode="r")["sentinel-2/image"]
    assert image.shards == (SHARD, len(BANDS), PX, PX) and image.chunks == (1, len(BANDS), PX, PX)
    assert image.shape[0] % SHARD == 0
    splits = group["split"].values
    for split, (start, stop) in ranges.items():
        assert set(splits[start:stop]) == {split}
        assert set(splits[stop : stop + (-stop % SHARD)]) <= {""}  # padding up to the shard boundary
        expected = by_split(samples, split)
        read = list(ChipDataset(store, split, "sentinel-2", normalize=False))
        assert len(read) == len(expected) == stop - start
        for got, want in zip(read, expected, strict=True):  # arrival order within the split
            np.testing.assert_array_equal(got["image"], want.image)
            np.testing.assert_array_equal(got["label"], want.label)
            assert (got["aoi"], got["split"], got["source_item"]) == (want.aoi, split, want.source_item)
            assert (got["chip_row"], got["chip_col"], got["epsg"]) == (want.chip_row, want.chip_col, 32633)
            assert got["time"] == np.datetime64(want.time.replace(tzinfo=None), "ns")
            np.testing.assert_array_equal(got["bounds"], want.bounds)


def test_store_records_bands_classes_statistics_and_crs(tmp_path: Path) -> None:
    samples = make_samples(COUNTS)
    store = write_store(tmp_path / "chips.zarr", samples)
    group = xr.open_zarr(store, group="sentinel-2", consolidated=True, chunks=None)
    assert list(group["band"].values) == ["B02", "B04", "B11"]
    assert list(group["common_name"].values) == ["blue", "red", ""]
    np.testing.assert_allclose(group["center_wavelength"].values, [0.49, 0.665, np.nan])
    assert group.attrs["normalization"]["mean"] == normalization(samples)["mean"]
    assert group.attrs["normalization"]["bands"] == ["B02", "B04", "B11"]
    assert group.attrs["classes"] == CLASSES and group.attrs["proj:code"] == "EPSG:32633"
    assert group["label"].dtype == np.uint8 and group["label"].attrs["nodata"] == LABEL_NODATA
    assert group["image"].dtype == np.float32
    assert np.isnat(group["time"].values[9:12]).all()  # padding slots have no time
    root = json.loads((store / "zarr.json").read_text())
    assert "consolidated_metadata" in root and root["attributes"]["sensors"] == ["sentinel-2"]


def test_shards_are_written_as_they_fill(tmp_path: Path) -> None:
    """Memory stays at one shard per split: a full shard goes to disk before the writer closes."""
    samples = by_split(make_samples(COUNTS), "val")
    writer = ChipStoreWriter(tmp_path / "chips.zarr", "sentinel-2", BANDS, PX, CLASSES, COUNTS, SHARD)
    shard = writer.staging / "sentinel-2" / "image" / "c" / "3" / "0" / "0" / "0"  # val starts at slot 12
    writer.write(samples[: SHARD - 1])
    assert not shard.exists()
    writer.add(samples[SHARD - 1])
    assert shard.exists() and not (tmp_path / "chips.zarr").exists()
    writer.abort()


def test_fewer_chips_than_planned_shrink_the_split(tmp_path: Path) -> None:
    samples = make_samples({"train": 6, "val": 5, "test": 3})
    store = write_store(tmp_path / "chips.zarr", samples)  # planned 9 train chips, 6 came
    assert ChipDataset(store, "train", "sentinel-2").attrs["split_ranges"]["train"] == [0, 6]
    assert len(ChipDataset(store, "train", "sentinel-2")) == 6


def test_a_crash_midway_leaves_no_store(tmp_path: Path) -> None:
    path = tmp_path / "chips.zarr"
    samples = make_samples(COUNTS)
    with pytest.raises(RuntimeError, match="boom"):
        with ChipStoreWriter(path, "sentinel-2", BANDS, PX, CLASSES, COUNTS, SHARD) as writer:
            writer.write(samples[:10])
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []  # neither the store nor the staging


def test_a_failed_rewrite_keeps_the_published_store(tmp_path: Path) -> None:
    path = tmp_path / "chips.zarr"
    samples = make_samples(COUNTS)
    write_store(path, samples)
    before = ChipDataset(path, "val", "sentinel-2", normalize=False)[0]["image"]
    writer = ChipStoreWriter(path, "sentinel-2", BANDS, PX, CLASSES, COUNTS, SHARD)
    writer.write(make_samples(COUNTS, seed=1))
    with pytest.raises(StoreError, match="'mean' list of 3 values"):
        writer.close({"mean": [0.0], "std": [1.0]})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chips.zarr"]
    np.testing.assert_array_equal(ChipDataset(path, "val", "sentinel-2", normalize=False)[0]["image"], before)


def test_sensors_share_one_store_and_a_rewrite_replaces_a_group(tmp_path: Path) -> None:
    path = tmp_path / "chips.zarr"
    write_store(path, make_samples(COUNTS, seed=0))
    write_store(path, make_samples(COUNTS, seed=1), sensor="landsat")
    assert json.loads((path / "zarr.json").read_text())["attributes"]["sensors"] == ["landsat", "sentinel-2"]
    rewritten = make_samples(COUNTS, seed=2)
    write_store(path, rewritten)
    first = by_split(rewritten, "train")[0].image
    np.testing.assert_array_equal(
        ChipDataset(path, "train", "sentinel-2", normalize=False)[0]["image"], first
    )
    assert len(ChipDataset(path, "test", "landsat")) == COUNTS["test"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chips.zarr"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"image": np.zeros((2, PX, PX), "float32")}, r"do not match \(band, y, x\) = \(3, 16, 16\)"),
        ({"label": np.full((PX, PX), 300)}, "labels must be integers 0-255"),
        ({"split": "validation"}, r"use one of \['train', 'val', 'test'\]"),
    ],
)
def test_writer_rejects_chips_that_do_not_fit(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    sample = make_samples({"train": 1})[0]
    bad = ChipSample(**{**sample.__dict__, **change})
    with ChipStoreWriter(tmp_path / "chips.zarr", "sentinel-2", BANDS, PX, CLASSES, COUNTS, SHARD) as writer:
        with pytest.raises(StoreError, match=message):
            writer.add(bad)
        writer.abort()


def test_writer_rejects_more_chips_than_planned_and_bad_plans(tmp_path: Path) -> None:
    with ChipStoreWriter(tmp_path / "c.zarr", "sentinel-2", BANDS, PX, CLASSES, {"test": 1}, SHARD) as writer:
        writer.write(make_samples({"test": 1}))
        with pytest.raises(StoreError, match="planned for 1 chips"):
            writer.write(make_samples({"test": 1}))
        writer.abort()
    with pytest.raises(StoreError, match="not usable"):
        plan_layout({"training": 3}, SHARD)
    with pytest.raises(StoreError, match="distinct and 0-254"):
        ChipStoreWriter(tmp_path / "c.zarr", "s", BANDS, PX, [{"value": 255, "name": "x"}], COUNTS)
