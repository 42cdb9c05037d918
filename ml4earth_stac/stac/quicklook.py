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


def write_quicklook(reflectance: xr.DataArray, path: Path, max_edge_px: int = MAX_EDGE_PX) -> bool:
    """Render one (band, y, x) reflectance slice as an RGBA PNG.

    Args:
        reflectance: physical reflectance with a ``band`` coordinate holding band names.
        path: PNG file to write.
        max_edge_px: the longer edge is decimated to at most this many pixels.

    Returns:
        False (and writes nothing) when the true-colour bands are not in the cube.
    """
    bands = [str(b) for b in reflectance["band"].values]
    if not all(b in bands for b in TRUE_COLOUR):
        return False
    step = max(1, int(np.ceil(max(reflectance.sizes["y"], reflectance.sizes["x"]) / max_edge_px)))
    rgb = reflectance.sel(band=list(TRUE_COLOUR)).isel(y=slice(None, None, step), x=slice(None, None, step))
    values = np.asarray(rgb.values, dtype="float32")
    alpha = np.where(np.isnan(values).any(axis=0), 0, 255).astype("uint8")
    scaled = np.clip(np.nan_to_num(values) / REFLECTANCE_WHITE, 0, 1) ** (1 / 2.2) * 255
    image = np.dstack([*scaled.astype("uint8"), alpha])
    Image.fromarray(image, mode="RGBA").save(path, compress_level=6)
    return True
