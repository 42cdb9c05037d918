"""ChipDataset: normalization, band subsets, streaming over loopback HTTP, errors, the torch path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ml4earth_stac.errors import StoreError
from ml4earth_stac.store.dataset import ChipDataset
from tests.conftest import serving
from tests.store.test_chips import COUNTS, SHARD, by_split, make_samples, write_store

SENSOR = "sentinel-2"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose chips have 5% NaN pixels."""
    return write_store(
        tmp_path_factory.mktemp("chips") / "chips.zarr", make_samples(COUNTS, nan_fraction=0.05)
    )


def test_normalize_uses_the_stored_train_statistics(store: Path) -> None:
    raw = ChipDataset(store, "val", SENSOR, normalize=False)
    normalized = ChipDataset(store, "val", SENSOR)
    stats = normalized.attrs["normalization"]
    mean, std = (np.array(stats[key], dtype="float32")[:, None, None] for key in ("mean", "std"))
    nan_seen = 0
    for x, z in zip(raw, normalized, strict=True):
        missing = np.isnan(x["image"])
        nan_seen += int(missing.sum())
        np.testing.assert_allclose(z["image"][~missing], ((x["image"] - mean) / std)[~missing], rtol=1e-6)
        assert (z["image"][missing] == 0).all() and z["image"].dtype == np.float32
        np.testing.assert_array_equal(z["valid"], ~missing.any(axis=0))
        np.testing.assert_array_equal(x["valid"], z["valid"])
    assert nan_seen > 0


def test_band_subset_and_no_label(store: Path) -> None:
    full = ChipDataset(store, "test", SENSOR, normalize=False)
    subset = ChipDataset(store, "test", SENSOR, normalize=False, bands=["B11", "B02"], label=False)
    assert subset.bands == ["B11", "B02"]
    sample = subset[1]
    assert "label" not in sample and sample["image"].shape == (2, 16, 16)
    np.testing.assert_array_equal(sample["image"], full[1]["image"][[2, 0]])
    normalized = ChipDataset(store, "test", SENSOR, bands=["B04"])[0]["image"]
    stats = full.attrs["normalization"]
    expected = (full[0]["image"][1] - stats["mean"][1]) / stats["std"][1]
    np.testing.assert_allclose(normalized[0], np.nan_to_num(expected, nan=0.0), rtol=1e-5, atol=1e-6)


def test_indexing_matches_iteration_and_shards(store: Path) -> None:
    train = ChipDataset(store, "train", SENSOR, normalize=False)
    assert train.shard_ranges() == [(0, 4), (4, 8), (8, 9)]
    listed = list(train)
    assert [s["index"] for s in listed] == list(range(COUNTS["train"]))
    np.testing.assert_array_equal(train[-1]["image"], listed[-1]["image"])
    np.testing.assert_array_equal(train[5]["label"], listed[5]["label"])
    with pytest.raises(IndexError):
        train[COUNTS["train"]]


def test_streams_over_loopback_http_like_local(store: Path) -> None:
    with serving(store.parent) as base:
        remote = ChipDataset(f"{base}/chips.zarr", "train", SENSOR)
        local = ChipDataset(store, "train", SENSOR)
        assert len(remote) == len(local) and remote.shard_ranges() == local.shard_ranges()
        pairs = list(zip(remote, local, strict=True))
        np.testing.assert_array_equal(remote[3]["image"], local[3]["image"])
    for got, want in pairs:
        for key in ("image", "valid", "label", "bounds"):
            np.testing.assert_array_equal(got[key], want[key])
        assert (got["time"], got["source_item"], got["aoi"]) == (
            want["time"],
            want["source_item"],
            want["aoi"],
        )


def test_unknown_split_sensor_or_band_names_the_choices(store: Path) -> None:
    with pytest.raises(StoreError, match=r"no split 'validation'; choose one of \['train', 'val', 'test'\]"):
        ChipDataset(store, "validation", SENSOR)
    with pytest.raises(StoreError, match=r"no sensor group 'landsat'; choose one of \['sentinel-2'\]"):
        ChipDataset(store, "train", "landsat")
    with pytest.raises(StoreError, match=r"no bands \['B08'\]; choose from \['B02', 'B04', 'B11'\]"):
        ChipDataset(store, "train", SENSOR, bands=["B08"])
    with pytest.raises(StoreError, match="no chip store at"):
        ChipDataset(store.parent / "missing.zarr", "train", SENSOR)


def test_a_store_without_consolidated_metadata_is_refused(tmp_path: Path) -> None:
    store = write_store(tmp_path / "chips.zarr", make_samples(COUNTS))
    root = json.loads((store / "zarr.json").read_text())
    del root["consolidated_metadata"]
    (store / "zarr.json").write_text(json.dumps(root))
    with pytest.raises(StoreError, match=f"chip store {store} has no consolidated metadata"):
        ChipDataset(store, "train", SENSOR)


def test_class_balance_comes_from_the_stored_frequencies(store: Path) -> None:
    assert ChipDataset(store, "train", SENSOR).class_balance() == {0: 0.5, 1: 0.3, 2: 0.2}
    with pytest.raises(StoreError, match="no class frequencies of split 'test'"):
        ChipDataset(store, "test", SENSOR).class_balance()


def test_torch_workers_read_every_sample_exactly_once(store: Path) -> None:
    torch = pytest.importorskip("torch")
    chips = ChipDataset(store, "train", SENSOR)
    loader = torch.utils.data.DataLoader(chips.as_torch(), batch_size=3, num_workers=2)
    indices, items = [], []
    for batch in loader:
        assert batch["image"].dtype == torch.float32 and batch["image"].shape[1:] == (3, 16, 16)
        assert batch["label"].dtype == torch.uint8 and batch["valid"].dtype == torch.bool
        indices.extend(batch["index"].tolist())
        items.extend(batch["source_item"])
    assert sorted(indices) == list(range(COUNTS["train"]))  # 3 shards over 2 workers, none twice
    assert sorted(items) == sorted(s.source_item for s in by_split(make_samples(COUNTS), "train"))
    assert len(chips.shard_ranges()) > 2 and SHARD < COUNTS["train"]
    shuffled = torch.utils.data.DataLoader(chips.as_torch(map_style=True), batch_size=4, shuffle=True)
    batch = next(iter(shuffled))
    first = int(batch["index"][0])
    torch.testing.assert_close(batch["image"][0], torch.from_numpy(chips[first]["image"]))
    assert batch["time"][0] == str(chips[first]["time"])[:19]
