"""Splits: property tests of spatial disjointness with a buffer, reproducibility and fractions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml4earth_stac.errors import LabelError
from ml4earth_stac.grid import GridSpec, iter_chips
from ml4earth_stac.labels.splits import (
    DROP_ORDER,
    ML_AOI_SPLIT,
    SPLIT_NAMES,
    ChipFootprint,
    SplitAssignment,
    assign_splits,
    split_by_aoi,
    split_by_blocks,
    validate_fractions,
)

FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}
FRACTION_CHOICES = [FRACTIONS, {"train": 0.8, "test": 0.2}, {"train": 0.5, "val": 0.5}, {"train": 1.0}]


def grid_chips(aoi: str, height: int, width: int, chip_px: int, overlap_px: int) -> list[ChipFootprint]:
    x0, y0 = 400_000.0, 8_750_000.0
    grid = GridSpec(32633, 10.0, (x0, y0, x0 + width * 10.0, y0 + height * 10.0))
    return [ChipFootprint.from_chip(aoi, chip, grid) for chip in iter_chips(grid, chip_px, overlap_px)]


def conflicts(chips: list[ChipFootprint], buffer_m: float) -> np.ndarray:
    """Pairs of chips of one AOI whose buffered bounds overlap: Chebyshev distance below buffer_m."""
    boxes = np.array([chip.bounds for chip in chips])
    aois = np.array([chip.aoi for chip in chips])
    gap_x = np.maximum(boxes[None, :, 0] - boxes[:, None, 2], boxes[:, None, 0] - boxes[None, :, 2])
    gap_y = np.maximum(boxes[None, :, 1] - boxes[:, None, 3], boxes[:, None, 1] - boxes[None, :, 3])
    return (gap_x < buffer_m) & (gap_y < buffer_m) & (aois[:, None] == aois[None, :])


def original_splits(chips: list[ChipFootprint], result: SplitAssignment, block_m: float) -> list[str]:
    """The split of every chip's block, before any drop."""
    groups = dict(result.groups)
    return [groups[json.dumps(list(block_of(chip, chips, block_m)))] for chip in chips]


def block_of(chip: ChipFootprint, chips: list[ChipFootprint], block_m: float) -> tuple[str, int, int]:
    origin_x = min(c.bounds[0] for c in chips if c.aoi == chip.aoi)
    origin_y = max(c.bounds[3] for c in chips if c.aoi == chip.aoi)
    centre_x, centre_y = (chip.bounds[0] + chip.bounds[2]) / 2, (chip.bounds[1] + chip.bounds[3]) / 2
    return chip.aoi, math.floor((centre_x - origin_x) / block_m), math.floor((origin_y - centre_y) / block_m)


@st.composite
def block_cases(draw: st.DrawFn) -> tuple[list[ChipFootprint], float, float, int, dict[str, float]]:
    chip_px = draw(st.integers(6, 16))
    overlap_px = draw(st.integers(0, chip_px - chip_px // 3))  # stride >= 2 px keeps the O(n^2) check fast
    chips = []
    for aoi in draw(st.sampled_from([["a"], ["a", "b"]])):  # two AOIs on the same coordinates: never conflict
        chips += grid_chips(
            aoi, draw(st.integers(chip_px, 70)), draw(st.integers(chip_px, 70)), chip_px, overlap_px
        )
    block_m = draw(st.floats(40.0, 600.0))
    buffer_m = draw(st.sampled_from([0.0, 10.0, 25.0, 60.0, 133.3]))
    return chips, block_m, buffer_m, draw(st.integers(0, 2**32)), draw(st.sampled_from(FRACTION_CHOICES))


@settings(max_examples=120, deadline=None)
@given(block_cases())
def test_blocks_keep_splits_apart_by_the_buffer(case: tuple) -> None:
    chips, block_m, buffer_m, seed, fractions = case
    try:
        result = split_by_blocks(chips, fractions, block_m=block_m, buffer_m=buffer_m, seed=seed)
    except LabelError as exc:
        assert "too few" in str(exc) or "no chips left" in str(exc)
        return
    assert len(result.splits) == len(chips)
    assert sum(result.counts.values()) + result.dropped["buffer"] == len(chips)
    assert all(result.counts[name] > 0 for name, share in fractions.items() if share > 0)
    assert all(result.counts[name] == 0 for name in SPLIT_NAMES if name not in fractions)
    kept = np.array([split is not None for split in result.splits])
    split = np.array([s or "" for s in result.splits])
    close = conflicts(chips, buffer_m)
    # no kept chip's buffered bounds overlap a kept chip of another split of its AOI
    assert not (close & kept[:, None] & kept[None, :] & (split[:, None] != split[None, :])).any()
    # chips are dropped, never moved; and only for a kept chip of a higher-priority split nearby
    before = np.array(original_splits(chips, result, block_m))
    assert (split[kept] == before[kept]).all()
    rank = np.array([DROP_ORDER.index(name) for name in before])
    outranked = close & kept[None, :] & (rank[None, :] > rank[:, None])
    assert (outranked.any(axis=1) == ~kept).all()


def test_without_overlap_or_buffer_nothing_is_dropped_and_fractions_hold() -> None:
    chips = grid_chips("a", 400, 400, 10, 0)  # 1600 chips, 100 m blocks hold 1 chip each
    result = split_by_blocks(chips, FRACTIONS, block_m=100.0, buffer_m=0.0, seed=3)
    assert result.dropped == {"buffer": 0}
    assert result.counts == {"train": 1120, "val": 240, "test": 240}
    coarse = split_by_blocks(chips, FRACTIONS, block_m=400.0, buffer_m=0.0, seed=3)  # 16 chips per block
    for name, share in FRACTIONS.items():
        assert abs(coarse.counts[name] - share * len(chips)) <= 16


def test_same_seed_same_split_other_seed_another() -> None:
    chips = grid_chips("a", 300, 300, 16, 8)
    runs = [split_by_blocks(chips, FRACTIONS, block_m=500.0, buffer_m=20.0, seed=seed) for seed in range(6)]
    again = split_by_blocks(chips, FRACTIONS, block_m=500.0, buffer_m=20.0, seed=0)
    assert again == runs[0] and runs[0].dropped["buffer"] > 0
    assert len({run.splits for run in runs}) > 1


def test_aoi_method_keeps_aois_whole_and_reproducible() -> None:
    chips = [chip for name in "abcdefgh" for chip in grid_chips(name, 40, 40, 8, 4)]
    result = split_by_aoi(chips, FRACTIONS, seed=11)
    by_aoi: dict[str, set] = {}
    for chip, split in zip(chips, result.splits, strict=True):
        by_aoi.setdefault(chip.aoi, set()).add(split)
    assert all(len(splits) == 1 and None not in splits for splits in by_aoi.values())
    assert all(result.counts[name] > 0 for name in SPLIT_NAMES)
    assert result == split_by_aoi(chips, FRACTIONS, seed=11)
    record = json.loads(json.dumps(result.to_dict()))
    assert set(record["aois"]) == set("abcdefgh") and record["dropped"] == {"buffer": 0}
    assert record["block_m"] is None and record["counts"] == result.counts


def test_aoi_method_needs_an_aoi_per_split() -> None:
    chips = grid_chips("kronebreen", 20, 20, 8, 0) + grid_chips("kongsvegen", 20, 20, 8, 0)
    with pytest.raises(LabelError, match=r"kongsvegen.*kronebreen.*fractions"):
        split_by_aoi(chips, FRACTIONS, seed=0)
    result = split_by_aoi(chips, {"train": 0.5, "test": 0.5}, seed=0)
    assert result.counts["val"] == 0 and result.counts["train"] == result.counts["test"]


def test_assign_splits_dispatches_and_records() -> None:
    chips = [(c.aoi, c.bounds) for c in grid_chips("a", 120, 120, 8, 0)]
    result = assign_splits(chips, method="block", fractions=FRACTIONS, seed=1, block_m=240, buffer_m=10)
    record = result.to_dict()
    assert record["method"] == "block" and record["block_m"] == 240.0 and record["buffer_m"] == 10.0
    assert sum(record["blocks"].values()) == 25 and json.dumps(record)
    assert ML_AOI_SPLIT["val"] == "validate"
    assert result.indices("train") == [i for i, s in enumerate(result.splits) if s == "train"]
    with pytest.raises(LabelError, match="block_m"):
        assign_splits(chips, method="block", fractions=FRACTIONS, seed=1)
    with pytest.raises(LabelError, match="unknown split method"):
        assign_splits(chips, method="random", fractions=FRACTIONS, seed=1)


@pytest.mark.parametrize(
    ("fractions", "match"),
    [
        ({"train": 0.7, "validation": 0.3}, "unknown split names"),
        ({"train": 1.2, "test": -0.2}, "non-negative"),
        ({"train": 0.7, "test": 0.2}, "sum to"),
        ({"train": float("nan"), "test": 1.0}, "finite"),
    ],
)
def test_bad_fractions_are_rejected(fractions: dict[str, float], match: str) -> None:
    with pytest.raises(LabelError, match=match):
        validate_fractions(fractions)


def test_fractions_are_completed_with_zeros() -> None:
    assert validate_fractions({"train": 0.8, "test": 0.2 + 1e-9}) == {
        "train": 0.8,
        "val": 0.0,
        "test": 0.2 + 1e-9,
    }


@pytest.mark.parametrize(
    ("chips", "kwargs", "match"),
    [
        ([], {}, "no chips"),
        ([("a", (0.0, 0.0, 0.0, 10.0))], {}, "min < max"),
        ([("a", (0.0, 0.0, 10.0))], {}, "min < max"),
        ([("a",)], {}, "expected"),
        ([("a", (0.0, 0.0, 10.0, 10.0))], {"block_m": 0.0}, "block_m"),
        ([("a", (0.0, 0.0, 10.0, 10.0))], {"buffer_m": -1.0}, "buffer_m"),
        ([("a", (0.0, 0.0, 10.0, 10.0))], {}, "too few"),
    ],
)
def test_bad_block_input_is_rejected(chips: list, kwargs: dict, match: str) -> None:
    with pytest.raises(LabelError, match=match):
        split_by_blocks(chips, FRACTIONS, **{"block_m": 100.0, "seed": 0, **kwargs})


def test_a_split_emptied_by_the_buffer_is_an_error() -> None:
    chips = grid_chips("a", 40, 40, 10, 9)  # dense overlapping chips, small blocks, big buffer
    with pytest.raises(LabelError, match="no chips left"):
        split_by_blocks(chips, FRACTIONS, block_m=100.0, buffer_m=500.0, seed=0)


@pytest.mark.parametrize("seed", range(8))
def test_every_split_with_a_fraction_gets_a_group_even_when_sizes_are_lopsided(seed: int) -> None:
    chips = (
        grid_chips("big", 100, 100, 10, 0)
        + grid_chips("small-1", 10, 10, 10, 0)
        + grid_chips("small-2", 10, 10, 10, 0)
    )
    result = split_by_aoi(chips, FRACTIONS, seed=seed)
    assert sorted(result.counts.values()) == [1, 1, 100]
