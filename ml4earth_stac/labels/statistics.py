"""Streaming statistics of chips: per-band moments and percentiles, and class frequencies per split.

Normalization statistics must come from the train split only: feed :class:`BandStatistics` the train chips
and nothing else. Every accumulator is small, picklable and mergeable, so chips can be accumulated in
parallel (one accumulator per worker) and merged in any order.

Precision:
    count, min and max are exact; mean and std are float64 with a Chan/Welford merge (stable for data far
    from zero). Percentiles come from a fixed-bin histogram over a per-band range: every percentile that
    lies inside the range is within one bin width, ``(hi - lo) / bins``, of ``numpy.nanpercentile`` (its
    default linear interpolation), and it is never outside the band's exact [min, max]. Values outside the
    range fall in an under/overflow bin spanning [min, lo] or [hi, max], where the bound is that span. A
    range from a first pass over the same data (:meth:`BandStatistics.from_first_pass`) leaves nothing out.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike

from ml4earth_stac.errors import LabelError
from ml4earth_stac.labels.splits import SPLIT_NAMES

DEFAULT_BINS: Final = 4096
DEFAULT_PERCENTILES: Final = (2.0, 50.0, 98.0)


@dataclass(frozen=True)
class BandStatisticsResult:
    """Per-band statistics (std is the population std, ddof=0); None where a band had no valid value.

    ``percentiles[i][band]`` is the ``percentile_levels[i]`` percentile of a band. Without a histogram both
    are empty, ``ranges`` is None and ``bins`` is 0.
    """

    count: tuple[int, ...]
    mean: tuple[float | None, ...]
    std: tuple[float | None, ...]
    minimum: tuple[float | None, ...]
    maximum: tuple[float | None, ...]
    percentile_levels: tuple[float, ...]
    percentiles: tuple[tuple[float | None, ...], ...]
    ranges: tuple[tuple[float, float], ...] | None
    bins: int

    @property
    def precision(self) -> tuple[float, ...] | None:
        """The bin width per band: the percentile error bound inside the range."""
        return None if self.ranges is None else tuple((hi - lo) / self.bins for lo, hi in self.ranges)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (no NaN): per-band lists, percentiles keyed ``p<level>``."""
        histogram = None
        if self.ranges is not None:
            histogram = {
                "bins": self.bins,
                "ranges": [list(r) for r in self.ranges],
                "precision": self.precision,
            }
        return {
            "count": list(self.count),
            "mean": list(self.mean),
            "std": list(self.std),
            "min": list(self.minimum),
            "max": list(self.maximum),
            "percentiles": {
                f"p{lvl:g}": list(v) for lvl, v in zip(self.percentile_levels, self.percentiles, strict=True)
            },
            "histogram": histogram,
        }


class BandStatistics:
    """Accumulate per-band statistics over ``(band, y, x)`` arrays with NaN as nodata.

    Without ``ranges`` no histogram is kept and no percentiles are reported; run a second pass with
    :meth:`from_first_pass` (or use :func:`two_pass_band_statistics`) to get them.

    Args:
        n_bands: number of bands of every array.
        ranges: per band ``(lo, hi)`` of the percentile histogram, ``lo < hi``.
        bins: histogram bins per band.
        percentiles: percentiles to report, in percent.

    Raises:
        LabelError: a bad band count, range, bin count or percentile.
    """

    def __init__(
        self,
        n_bands: int,
        *,
        ranges: Sequence[tuple[float, float]] | None = None,
        bins: int = DEFAULT_BINS,
        percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    ) -> None:
        if n_bands < 1 or bins < 1:
            raise LabelError(f"need at least one band and one bin, got n_bands={n_bands}, bins={bins}")
        if not all(0 <= level <= 100 for level in percentiles):
            raise LabelError(f"percentiles must lie in [0, 100], got {list(percentiles)}")
        self.n_bands, self.bins = n_bands, bins
        self.ranges = None if ranges is None else _checked_ranges(ranges, n_bands)
        self.levels = tuple(float(level) for level in percentiles) if ranges is not None else ()
        self._count = np.zeros(n_bands, dtype=np.int64)
        self._mean = np.zeros(n_bands)
        self._m2 = np.zeros(n_bands)
        self._min = np.full(n_bands, np.inf)
        self._max = np.full(n_bands, -np.inf)
        self._hist = None if ranges is None else np.zeros((n_bands, bins + 2), dtype=np.int64)

    @classmethod
    def from_first_pass(
        cls,
        first: BandStatisticsResult,
        *,
        bins: int = DEFAULT_BINS,
        percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    ) -> BandStatistics:
        """A fresh accumulator whose histogram ranges are the exact min/max found by a first pass."""
        ranges = []
        for low, high in zip(first.minimum, first.maximum, strict=True):
            low = 0.0 if low is None else low
            high = low + 1.0 if high is None or high <= low else high
            ranges.append((low, high))
        return cls(len(first.count), ranges=ranges, bins=bins, percentiles=percentiles)

    def update(self, array: ArrayLike) -> None:
        """Add one ``(band, y, x)`` array (any real dtype; NaN is nodata and skipped).

        Raises:
            LabelError: wrong shape or dtype, or infinite values (decode them to NaN first).
        """
        count, mean, m2 = (
            np.zeros(self.n_bands, dtype=np.int64),
            np.zeros(self.n_bands),
            np.zeros(self.n_bands),
        )
        for band, raw in enumerate(_band_values(array, self.n_bands)):
            values = raw.astype(np.float64)  # one band at a time bounds the float64 copies to one band
            values = values[~np.isnan(values)]
            if values.size == 0:
                continue
            count[band], mean[band] = values.size, values.mean()
            m2[band] = np.square(values - mean[band]).sum()
            self._min[band] = min(self._min[band], values.min())
            self._max[band] = max(self._max[band], values.max())
            if self._hist is not None and self.ranges is not None:
                self._hist[band] += _bin_counts(values, *self.ranges[band], self.bins)
        self._add_moments(count, mean, m2)

    def merge(self, other: BandStatistics) -> BandStatistics:
        """Add another accumulator's data to this one (in place) and return this one.

        Raises:
            LabelError: the accumulators differ in bands, ranges, bins or percentiles.
        """
        setup = (self.n_bands, self.ranges, self.bins, self.levels)
        if (other.n_bands, other.ranges, other.bins, other.levels) != setup:
            raise LabelError("cannot merge band statistics with other bands, ranges, bins or percentiles")
        self._add_moments(other._count, other._mean, other._m2)
        self._min = np.minimum(self._min, other._min)
        self._max = np.maximum(self._max, other._max)
        if self._hist is not None and other._hist is not None:
            self._hist += other._hist
        return self

    def result(self) -> BandStatisticsResult:
        """The statistics of everything added so far."""
        present = self._count > 0
        std = np.sqrt(np.maximum(self._m2, 0.0) / np.maximum(self._count, 1))
        per_level = [[None] * self.n_bands for _ in self.levels]
        for band in np.flatnonzero(present):
            for level_index, value in enumerate(self._band_percentiles(band)):
                per_level[level_index][band] = value
        return BandStatisticsResult(
            count=tuple(int(n) for n in self._count),
            mean=_or_none(self._mean, present),
            std=_or_none(std, present),
            minimum=_or_none(self._min, present),
            maximum=_or_none(self._max, present),
            percentile_levels=self.levels,
            percentiles=tuple(tuple(values) for values in per_level),
            ranges=self.ranges,
            bins=self.bins if self.ranges is not None else 0,
        )

    def _add_moments(self, count: np.ndarray, mean: np.ndarray, m2: np.ndarray) -> None:
        """Chan et al.'s pairwise merge of (count, mean, M2) into the running moments."""
        total = self._count + count
        weight = np.where(total > 0, count / np.maximum(total, 1), 0.0)
        delta = mean - self._mean
        self._mean = self._mean + delta * weight
        self._m2 = self._m2 + m2 + delta**2 * self._count * weight
        self._count = total

    def _band_percentiles(self, band: int) -> list[float]:
        """Percentiles of one band from its histogram, clipped to the exact min/max."""
        if self._hist is None or self.ranges is None:
            return []
        low, high = self.ranges[band]
        lowest, highest = float(self._min[band]), float(self._max[band])
        edges = np.concatenate(
            ([min(lowest, low)], np.linspace(low, high, self.bins + 1), [max(highest, high)])
        )
        counts = self._hist[band]
        cumulative = np.cumsum(counts)
        rank_max = int(cumulative[-1]) - 1
        values = []
        for level in self.levels:
            rank = level / 100 * rank_max
            below = _rank_value(math.floor(rank), counts, cumulative, edges)
            above = _rank_value(math.ceil(rank), counts, cumulative, edges)
            estimate = below + (rank - math.floor(rank)) * (above - below)
            values.append(float(min(max(estimate, lowest), highest)))
        return values


def two_pass_band_statistics(
    chips: Callable[[], Iterable[ArrayLike]],
    n_bands: int,
    *,
    bins: int = DEFAULT_BINS,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
) -> BandStatisticsResult:
    """Statistics with percentiles over ranges found by a first pass (reads the chips twice).

    Args:
        chips: returns a fresh iterable of ``(band, y, x)`` train chips on each call.
        n_bands, bins, percentiles: as for :class:`BandStatistics`.
    """
    first = BandStatistics(n_bands)
    for chip in chips():
        first.update(chip)
    second = BandStatistics.from_first_pass(first.result(), bins=bins, percentiles=percentiles)
    for chip in chips():
        second.update(chip)
    return second.result()


@dataclass(frozen=True)
class ClassFrequenciesResult:
    """Class counts per split.

    Attributes:
        nodata: the label value that was not counted (None if every value counts).
        counts: per split seen, in :data:`SPLIT_NAMES` order, ``(class value, count)`` pairs sorted by value.
    """

    nodata: int | None
    counts: tuple[tuple[str, tuple[tuple[int, int], ...]], ...]

    def counts_of(self, split: str) -> dict[int, int]:
        """Class value -> pixel count for one split (empty for a split never seen)."""
        return dict(dict(self.counts).get(split, ()))

    def fractions_of(self, split: str) -> dict[int, float]:
        """Class value -> share of the split's counted pixels (empty if it has none)."""
        counts = self.counts_of(split)
        total = sum(counts.values())
        return {value: n / total for value, n in counts.items()} if total else {}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record: per split, total, counts and fractions keyed by the class value as text."""
        splits = {}
        for split, _ in self.counts:
            counts, fractions = self.counts_of(split), self.fractions_of(split)
            splits[split] = {
                "total": sum(counts.values()),
                "counts": {str(value): n for value, n in counts.items()},
                "fractions": {str(value): share for value, share in fractions.items()},
            }
        return {"nodata": self.nodata, "splits": splits}


class ClassFrequencies:
    """Accumulate class-value counts of integer label arrays per split.

    Args:
        nodata: a label value to leave out of the counts (e.g. 255), or None.
    """

    def __init__(self, nodata: int | None = None) -> None:
        self.nodata = nodata
        self._counts: dict[str, Counter[int]] = {}

    def update(self, split: str, labels: ArrayLike) -> None:
        """Count the classes of one label array (usually ``(y, x)``) of a split.

        Raises:
            LabelError: an unknown split name or a non-integer label array.
        """
        if split not in SPLIT_NAMES:
            raise LabelError(f"unknown split {split!r}; use one of {list(SPLIT_NAMES)}")
        array = np.asarray(labels)
        if array.dtype.kind not in "biu":
            raise LabelError(
                f"label array has dtype {array.dtype}; class labels must be integers (rasterize with an "
                "integer dtype and an integer nodata value)"
            )
        values = array.ravel() if self.nodata is None else array[array != self.nodata]
        classes, counts = np.unique(values, return_counts=True)
        tally = {int(value): int(n) for value, n in zip(classes.tolist(), counts.tolist(), strict=True)}
        self._counts.setdefault(split, Counter()).update(tally)

    def merge(self, other: ClassFrequencies) -> ClassFrequencies:
        """Add another accumulator's counts to this one (in place) and return this one.

        Raises:
            LabelError: the accumulators leave out different nodata values.
        """
        if other.nodata != self.nodata:
            raise LabelError(f"cannot merge class counts of nodata {other.nodata} into nodata {self.nodata}")
        for split, counts in other._counts.items():
            self._counts.setdefault(split, Counter()).update(counts)
        return self

    def result(self) -> ClassFrequenciesResult:
        """The counts of everything added so far."""
        seen = [split for split in SPLIT_NAMES if split in self._counts]
        return ClassFrequenciesResult(
            self.nodata, tuple((split, tuple(sorted(self._counts[split].items()))) for split in seen)
        )


def _checked_ranges(ranges: Sequence[tuple[float, float]], n_bands: int) -> tuple[tuple[float, float], ...]:
    checked = tuple((float(low), float(high)) for low, high in ranges)
    if len(checked) != n_bands or not all(
        math.isfinite(lo) and math.isfinite(hi) and lo < hi for lo, hi in checked
    ):
        raise LabelError(
            f"need one finite (lo, hi) range with lo < hi per band ({n_bands}), got {list(ranges)}"
        )
    return checked


def _band_values(array: ArrayLike, n_bands: int) -> np.ndarray:
    """The array as ``(band, pixel)`` values of its own dtype, checked."""
    data = np.asarray(array)
    if data.ndim != 3 or data.shape[0] != n_bands:
        raise LabelError(f"expected a (band, y, x) array with {n_bands} band(s), got shape {data.shape}")
    if data.dtype.kind not in "biuf":
        raise LabelError(f"band values must be real numbers, got dtype {data.dtype}")
    if data.dtype.kind == "f" and np.isinf(data).any():
        raise LabelError("band values hold +/-inf; decode invalid values to NaN (e.g. dB of 0) first")
    return data.reshape(n_bands, -1)


def _bin_counts(values: np.ndarray, low: float, high: float, bins: int) -> np.ndarray:
    """Counts in [underflow, bin 0 .. bin bins-1, overflow]; bin k is [edge k, edge k+1), the last closed."""
    edges = np.concatenate(([-np.inf], np.linspace(low, high, bins + 1), [np.inf]))
    guess = np.floor((values - low) * (bins / (high - low))) + 1
    index = np.clip(guess, 0, bins + 1).astype(np.int64)
    index -= values < edges[index]  # one step fixes rounding: now edges[index] <= value < edges[index + 1]
    index += values >= edges[index + 1]
    index[values == high] = bins
    return np.bincount(index, minlength=bins + 2)


def _rank_value(rank: int, counts: np.ndarray, cumulative: np.ndarray, edges: np.ndarray) -> float:
    """Estimate of the value of 0-based sorted rank ``rank``: spread evenly across its bin."""
    index = int(np.searchsorted(cumulative, rank, side="right"))
    before = cumulative[index] - counts[index]
    return float(edges[index] + (rank - before + 0.5) / counts[index] * (edges[index + 1] - edges[index]))


def _or_none(values: np.ndarray, present: np.ndarray) -> tuple[float | None, ...]:
    return tuple(float(v) if ok else None for v, ok in zip(values, present, strict=True))
