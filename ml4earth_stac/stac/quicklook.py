"""Quicklook PNGs of cube time steps (true colour, masked pixels transparent)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import xarray as xr
from PIL import Image

TRUE_COLOUR: Final = ("B04", "B03", "B02")
MAX_EDGE_PX: Final = 512
REFLECTANCE_WHITE: Final = 0.6


def true_colour_preview(reflectance: xr.DataArray, max_edge_px: int = MAX_EDGE_PX) -> xr.DataArray | None:
    """A lazy, decimated (3, y, x) true-colour slice of a (band, y, x) reflectance array, or None.

    Computed in the same pass as the store write, so the quicklook costs no extra read.
    """
    bands = [str(b) for b in reflectance["band"].values]
    if not all(b in bands for b in TRUE_COLOUR):
        return None
    step = max(1, int(np.ceil(max(reflectance.sizes["y"], reflectance.sizes["x"]) / max_edge_px)))
    return reflectance.sel(band=list(TRUE_COLOUR)).isel(y=slice(None, None, step), x=slice(None, None, step))


def write_quicklook(rgb: np.ndarray, path: Path) -> None:
    """Render a (3, y, x) reflectance array as an RGBA PNG (NaN transparent, gamma-stretched to 0.6)."""
    values = np.asarray(rgb, dtype="float32")
    alpha = np.where(np.isnan(values).any(axis=0), 0, 255).astype("uint8")
    scaled = np.clip(np.nan_to_num(values) / REFLECTANCE_WHITE, 0, 1) ** (1 / 2.2) * 255
    image = np.dstack([*scaled.astype("uint8"), alpha])
    Image.fromarray(image, mode="RGBA").save(path, compress_level=3)
