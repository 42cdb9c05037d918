"""Zarr stores of a benchmark: the analysis cube (per AOI and sensor) and the ML chip store and its loader."""

from ml4earth_stac.store.chips import ChipSample, ChipStoreWriter
from ml4earth_stac.store.dataset import ChipDataset

__all__ = ["ChipDataset", "ChipSample", "ChipStoreWriter"]
