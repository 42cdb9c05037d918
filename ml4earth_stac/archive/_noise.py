"""Seeded smooth random fields in pure numpy (bilinear upsampling of coarse noise; no scipy needed)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _interp_axis(coarse: np.ndarray, n: int, axis: int) -> np.ndarray:
    """Linearly interpolate ``coarse`` along ``axis`` onto ``n`` pixel centres spanning the same extent."""
    m = coarse.shape[axis] - 1
    pos = (np.arange(n, dtype=np.float32) + 0.5) * (m / n)
    i0 = np.minimum(pos.astype(np.int64), m - 1)
    w = (pos - i0).astype(np.float32)
    a = np.take(coarse, i0, axis=axis)
    b = np.take(coarse, i0 + 1, axis=axis)
    shape = [1] * coarse.ndim
    shape[axis] = n
    w = w.reshape(shape)
    return a * (1.0 - w) + b * w


def smooth_1d(rng: np.random.Generator, n: int, cells: Sequence[int], weights: Sequence[float]) -> np.ndarray:
    """A smooth 1-D random profile of length ``n``, zero mean and unit standard deviation.

    Args:
        rng: seeded generator.
        n: number of samples.
        cells: coarse grid sizes of the octaves (more cells = finer detail).
        weights: amplitude of each octave.

    Returns:
        float32 array of shape (n,).
    """
    out = np.zeros(n, dtype=np.float32)
    for c, w in zip(cells, weights, strict=True):
        coarse = rng.standard_normal(c + 1).astype(np.float32)
        out += w * _interp_axis(coarse, n, 0)
    return _standardize(out)


def smooth_2d(rng: np.random.Generator, n: int, cells: Sequence[int], weights: Sequence[float]) -> np.ndarray:
    """A smooth 2-D random field of shape (n, n), zero mean and unit standard deviation.

    Args:
        rng: seeded generator.
        n: pixels per side.
        cells: coarse grid sizes of the octaves (more cells = finer detail).
        weights: amplitude of each octave.

    Returns:
        float32 array of shape (n, n).
    """
    out = np.zeros((n, n), dtype=np.float32)
    for c, w in zip(cells, weights, strict=True):
        coarse = rng.standard_normal((c + 1, c + 1)).astype(np.float32)
        rows = _interp_axis(coarse, n, 0)
        out += w * _interp_axis(rows, n, 1)
    return _standardize(out)


def blocky_uniform(rng: np.random.Generator, n: int, block: int) -> np.ndarray:
    """Uniform [0, 1) noise constant over ``block`` x ``block`` pixel cells, shape (n, n)."""
    m = -(-n // block)
    coarse = rng.random((m, m), dtype=np.float32)
    return np.repeat(np.repeat(coarse, block, axis=0), block, axis=1)[:n, :n]


def _standardize(a: np.ndarray) -> np.ndarray:
    std = float(a.std())
    return (a - a.mean()) / (std if std > 0 else 1.0)
