"""Train-split statistics: streamed and merged in any order, they match NumPy on the whole array."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml4earth_stac.errors import LabelError
from ml4earth_stac.labels.statistics import (
    BandStatistics,
    ClassFrequencies,
    two_pass_band_statistics,
)


@st.composite
def chunked_arrays(draw: st.DrawFn) -> tuple[np.ndarray, list[np.ndarray], list[int]]:
    """A (band, y, x) array with NaNs, its chunks along y and x, and a merge order of the chunks."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    bands, height, width = draw(st.integers(1, 3)), draw(st.integers(1, 30)), draw(st.integers(1, 30))
    offset, scale = draw(st.sampled_from([0.0, -3.0, 1e6])), draw(st.sampled_from([1e-3, 1.0, 250.0]))
    data = offset + scale * rng.standard_normal((bands, height, width))
    data[rng.random(data.shape) < draw(st.sampled_from([0.0, 0.3, 0.9]))] = np.nan
    ys = sorted(draw(st.lists(st.integers(1, height - 1), max_size=3, unique=True))) if height > 1 else []
    xs = sorted(draw(st.lists(st.integers(1, width - 1), max_size=3, unique=True))) if width > 1 else []
    chunks = [part for rows in np.split(data, ys, axis=1) for part in np.split(rows, xs, axis=2)]
    return data, chunks, draw(st.permutations(range(len(chunks))))


def accumulate(chunks: list[np.ndarray], order: list[int], **kwargs: object) -> BandStatistics:
    """One accumulator per chunk, merged in the given order (as parallel workers would be)."""
    parts = []
    for chunk in chunks:
        part = BandStatistics(chunks[0].shape[0], **kwargs)
        part.update(chunk)
        parts.append(part)
    total = parts[order[0]]
    for index in order[1:]:
        total.merge(parts[index])
    return total


@settings(max_examples=120, deadline=None)
@given(chunked_arrays())
def test_moments_match_numpy_in_any_chunking_and_merge_order(case: tuple) -> None:
    data, chunks, order = case
    result = accumulate(chunks, order).result()
    flat = data.reshape(data.shape[0], -1)
    for band, values in enumerate(flat):
        valid = values[~np.isnan(values)]
        assert result.count[band] == valid.size
        if valid.size == 0:
            assert result.mean[band] is None and result.std[band] is None and result.minimum[band] is None
            continue
        spread = max(np.abs(valid).max(), 1.0)
        assert result.mean[band] == pytest.approx(np.mean(valid), rel=1e-12, abs=1e-12 * spread)
        assert result.std[band] == pytest.approx(np.std(valid), rel=1e-7, abs=1e-9 * spread)
        assert result.minimum[band] == valid.min() and result.maximum[band] == valid.max()


@settings(max_examples=80, deadline=None)
@given(chunked_arrays(), st.sampled_from([16, 100, 1024]))
def test_percentiles_are_within_one_bin_of_numpy(case: tuple, bins: int) -> None:
    data, chunks, order = case
    first = accumulate(chunks, order).result()
    second = accumulate(chunks, order, ranges=ranges_of(first), bins=bins, percentiles=(0, 2, 50, 98, 100))
    result = second.result()
    for band, values in enumerate(data.reshape(data.shape[0], -1)):
        valid = values[~np.isnan(values)]
        if valid.size == 0:
            assert all(level[band] is None for level in result.percentiles)
            continue
        width = result.precision[band]
        for level, estimates in zip(result.percentile_levels, result.percentiles, strict=True):
            expected = np.percentile(valid, level)
            assert abs(estimates[band] - expected) <= width * (1 + 1e-9) + 1e-12 * abs(expected)
            assert valid.min() <= estimates[band] <= valid.max()


def ranges_of(first) -> list[tuple[float, float]]:
    return [BandStatistics.from_first_pass(first).ranges[band] for band in range(len(first.count))]


def test_values_outside_a_given_range_are_still_counted_and_bounded() -> None:
    rng = np.random.default_rng(1)
    data = rng.uniform(-0.2, 1.4, (2, 64, 64))
    stats = BandStatistics(2, ranges=[(0.0, 1.0), (0.0, 1.0)], bins=1000, percentiles=(1, 50, 99))
    stats.update(data)
    result = stats.result()
    for band in range(2):
        values = data[band].ravel()
        assert result.count[band] == values.size
        assert result.percentiles[1][band] == pytest.approx(np.percentile(values, 50), abs=1e-3)
        assert -0.2 <= result.percentiles[0][band] <= 0.0 and 1.0 <= result.percentiles[2][band] <= 1.4


def test_two_pass_helper_and_json_record() -> None:
    rng = np.random.default_rng(5)
    chips = [rng.normal(0.2, 0.05, (3, 16, 16)).astype(np.float32) for _ in range(5)]
    chips[0][1] = np.nan  # a fully masked band in one chip
    chips[2][2] = 0.5  # a constant band
    result = two_pass_band_statistics(lambda: iter(chips), 3, bins=512)
    record = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert set(record) == {"count", "mean", "std", "min", "max", "percentiles", "histogram"}
    assert set(record["percentiles"]) == {"p2", "p50", "p98"} and record["histogram"]["bins"] == 512
    stacked = np.concatenate([c.reshape(3, -1) for c in chips], axis=1).astype(np.float64)
    assert record["count"] == [1280, 1024, 1280]
    assert record["mean"] == pytest.approx(np.nanmean(stacked, axis=1).tolist(), rel=1e-12)
    assert record["percentiles"]["p50"][2] == pytest.approx(np.nanpercentile(stacked[2], 50), abs=1e-3)


def test_without_ranges_there_are_no_percentiles_and_empty_bands_are_none() -> None:
    stats = BandStatistics(2)
    stats.update(np.full((2, 4, 4), np.nan))
    result = stats.result()
    assert result.percentile_levels == () and result.precision is None
    assert result.to_dict()["percentiles"] == {} and result.to_dict()["mean"] == [None, None]
    assert pickle.loads(pickle.dumps(stats)).result() == result


def test_stable_for_data_far_from_zero() -> None:
    values = 1e9 + np.array([4.0, 7.0, 13.0, 16.0])
    stats = BandStatistics(1)
    for value in values:
        stats.update(np.full((1, 1, 1), value))
    assert stats.result().std[0] == pytest.approx(np.std(values - 1e9), rel=1e-9)


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.zeros((4, 4)), "band, y, x"),
        (np.zeros((3, 4, 4)), "2 band"),
        (np.array([[[1.0, np.inf]], [[0.0, 0.0]]]), "inf"),
        (np.zeros((2, 1, 1), dtype=complex), "real numbers"),
    ],
)
def test_bad_arrays_are_rejected(array: np.ndarray, match: str) -> None:
    with pytest.raises(LabelError, match=match):
        BandStatistics(2).update(array)


def test_bad_setups_are_rejected() -> None:
    with pytest.raises(LabelError, match="lo < hi"):
        BandStatistics(2, ranges=[(0.0, 1.0)])
    with pytest.raises(LabelError, match="lo < hi"):
        BandStatistics(1, ranges=[(1.0, 1.0)])
    with pytest.raises(LabelError, match=r"\[0, 100\]"):
        BandStatistics(1, ranges=[(0.0, 1.0)], percentiles=(101,))
    with pytest.raises(LabelError, match="other bands"):
        BandStatistics(1).merge(BandStatistics(1, ranges=[(0.0, 1.0)]))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([None, 0, 255]), st.integers(1, 4))
def test_class_counts_match_numpy_unique(seed: int, nodata: int | None, n_chunks: int) -> None:
    rng = np.random.default_rng(seed)
    labels = {
        split: rng.choice([0, 1, 2, 7, 255], size=(n_chunks, 12, 9)).astype(np.uint8)
        for split in ("train", "test")
    }
    parts = []
    for split, stack in labels.items():
        for chunk in stack:
            part = ClassFrequencies(nodata)
            part.update(split, chunk)
            parts.append(part)
    total = ClassFrequencies(nodata)
    for part in reversed(parts):
        total.merge(part)
    result = total.result()
    for split, stack in labels.items():
        values = stack[stack != nodata] if nodata is not None else stack.ravel()
        classes, counts = np.unique(values, return_counts=True)
        assert result.counts_of(split) == dict(zip(classes.tolist(), counts.tolist(), strict=True))
        if values.size:
            assert sum(result.fractions_of(split).values()) == pytest.approx(1.0)
    assert result.counts_of("val") == {} and result.fractions_of("val") == {}
    record = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert set(record["splits"]) == {"train", "test"} and record["nodata"] == nodata


def test_class_frequency_errors() -> None:
    freqs = ClassFrequencies(255)
    with pytest.raises(LabelError, match="unknown split"):
        freqs.update("validation", np.zeros((2, 2), dtype=np.uint8))
    with pytest.raises(LabelError, match="integers"):
        freqs.update("train", np.zeros((2, 2), dtype=np.float32))
    with pytest.raises(LabelError, match="nodata"):
        freqs.merge(ClassFrequencies(0))
    freqs.update("train", np.array([[True, False], [True, True]]))
    assert freqs.result().counts_of("train") == {0: 1, 1: 3}
    assert freqs.result().to_dict()["splits"]["train"]["counts"] == {"0": 1, "1": 3}


@pytest.mark.parametrize(("low", "high", "bins"), [(0.0, 1.0, 4096), (-0.1, 1.6, 1000), (1e6, 1e6 + 3, 7)])
def test_histogram_bins_match_numpy(low: float, high: float, bins: int) -> None:
    from ml4earth_stac.labels.statistics import _bin_counts

    rng = np.random.default_rng(2)
    span = high - low
    values = np.concatenate(
        [rng.uniform(low - span / 10, high + span / 10, 50_000), np.linspace(low, high, bins + 1)]
    )
    counts = _bin_counts(values, low, high, bins)
    inside = values[(values >= low) & (values <= high)]
    assert (counts[1:-1] == np.histogram(inside, bins, (low, high))[0]).all()
    assert counts[0] == (values < low).sum() and counts[-1] == (values > high).sum()
