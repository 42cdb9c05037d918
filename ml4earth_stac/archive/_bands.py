"""Sentinel-2 L2A band table (as Planetary Computer describes it), class spectra and DN encodings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from ml4earth_stac.sensors.sentinel2 import BANDS_BY_NAME


@dataclass(frozen=True)
class Band:
    """One spectral band as the PC ``sentinel-2-l2a`` collection labels it.

    Wavelengths and GSD come from the sensor table (:mod:`ml4earth_stac.sensors.sentinel2`); only PC's
    own labels live here (PC calls B8A ``rededge``, gives B09 no common name).
    """

    name: str
    common_name: str | None
    description: str

    @property
    def center(self) -> float:
        """Centre wavelength, micrometres."""
        return BANDS_BY_NAME[self.name].center_wavelength

    @property
    def fwhm(self) -> float:
        """Full width at half maximum, micrometres."""
        return BANDS_BY_NAME[self.name].full_width_half_max

    @property
    def gsd(self) -> int:
        """Native ground sample distance, metres."""
        return int(BANDS_BY_NAME[self.name].gsd)

    def eo_band(self) -> dict[str, Any]:
        """The ``eo:bands`` entry exactly as PC writes it (B09 has no common name)."""
        out: dict[str, Any] = {"name": self.name}
        if self.common_name:
            out["common_name"] = self.common_name
        out.update(description=self.description, center_wavelength=self.center, full_width_half_max=self.fwhm)
        return out

    @property
    def title(self) -> str:
        """PC asset title, e.g. ``Band 4 - Red - 10m``."""
        return f"{self.description} - {self.gsd}m"


BANDS: Final = (
    Band("B01", "coastal", "Band 1 - Coastal aerosol"),
    Band("B02", "blue", "Band 2 - Blue"),
    Band("B03", "green", "Band 3 - Green"),
    Band("B04", "red", "Band 4 - Red"),
    Band("B05", "rededge", "Band 5 - Vegetation red edge 1"),
    Band("B06", "rededge", "Band 6 - Vegetation red edge 2"),
    Band("B07", "rededge", "Band 7 - Vegetation red edge 3"),
    Band("B08", "nir", "Band 8 - NIR"),
    Band("B8A", "rededge", "Band 8A - Vegetation red edge 4"),
    Band("B09", None, "Band 9 - Water vapor"),
    Band("B11", "swir16", "Band 11 - SWIR (1.6)"),
    Band("B12", "swir22", "Band 12 - SWIR (2.2)"),
)
BAND_INDEX: Final = {b.name: i for i, b in enumerate(BANDS)}

# Surface classes of the synthesis (not SCL): index into SPECTRA rows.
NODATA, ROCK, ROCK_SNOW, ICE, DIRTY_ICE, FIRN, WATER, BERG = range(8)
# BOA reflectance per class, columns in BANDS order (B01 .. B12), from SENSORS.md section 5 (mid-range values;
# red-edge / B8A / B09 interpolated between red, NIR and the water-vapour dip).
SPECTRA: Final = np.array(
    [
        [0.20, 0.20, 0.20, 0.20, 0.20, 0.20, 0.20, 0.20, 0.20, 0.20, 0.20, 0.20],  # nodata filler
        [0.14, 0.154, 0.186, 0.206, 0.210, 0.215, 0.220, 0.222, 0.225, 0.220, 0.269, 0.232],  # rock / gravel
        [0.86, 0.85, 0.84, 0.80, 0.76, 0.72, 0.69, 0.66, 0.63, 0.52, 0.035, 0.02],  # old snow on rock
        [0.47, 0.45, 0.42, 0.36, 0.31, 0.27, 0.24, 0.22, 0.20, 0.15, 0.025, 0.02],  # clean glacier ice
        [0.18, 0.18, 0.18, 0.18, 0.17, 0.16, 0.15, 0.14, 0.14, 0.12, 0.06, 0.05],  # debris-laden ice
        [0.90, 0.89, 0.88, 0.85, 0.82, 0.79, 0.77, 0.75, 0.72, 0.60, 0.04, 0.02],  # firn / snow on glacier
        [0.040, 0.035, 0.025, 0.010, 0.008, 0.006, 0.005, 0.005, 0.004, 0.003, 0.003, 0.002],  # clear sea
        [0.80, 0.78, 0.76, 0.70, 0.62, 0.55, 0.50, 0.46, 0.43, 0.33, 0.03, 0.02],  # icebergs / melange
    ],
    dtype=np.float32,
)
# Glacial-flour plume: turbid water minus clear water, added in proportion to the plume weight.
TURBID_DELTA: Final = (
    np.array([0.07, 0.075, 0.11, 0.10, 0.08, 0.06, 0.05, 0.045, 0.04, 0.02, 0.012, 0.006], dtype=np.float32)
    - SPECTRA[WATER]
)
CLOUD: Final = np.array([0.75, 0.74, 0.73, 0.72, 0.72, 0.71, 0.70, 0.70, 0.69, 0.55, 0.45, 0.30], np.float32)
CIRRUS: Final = np.array(
    [0.08, 0.08, 0.075, 0.07, 0.065, 0.06, 0.06, 0.055, 0.055, 0.04, 0.03, 0.02], np.float32
)

BOA_QUANTIFICATION: Final = 10000.0
BOA_ADD_OFFSET_DN: Final = 1000  # added to DN by processing baselines >= 04.00


def boa_offset_dn(baseline: str) -> int:
    """DN offset of a processing baseline: 1000 from ``04.00`` on, else 0."""
    return BOA_ADD_OFFSET_DN if tuple(int(p) for p in baseline.split(".")) >= (4, 0) else 0


def encode_reflectance(
    rho: np.ndarray, valid: np.ndarray, baseline: str, *, boa_offset_applied: bool = False
) -> np.ndarray:
    """BOA reflectance to L2A DN: ``round(rho * 1e4) + offset`` clipped to 1..65534, 0 where not valid.

    Args:
        rho: float reflectance.
        valid: boolean mask of pixels with data.
        baseline: ``s2:processing_baseline`` of the product, e.g. ``"04.00"``.
        boa_offset_applied: Earth Search v1 COGs: the +1000 of baselines >= 04.00 was already taken off
            again (``earthsearch:boa_offset_applied: true``), so the DN are ``round(rho * 1e4)``.

    Returns:
        uint16 DN array.
    """
    offset = 0 if boa_offset_applied else boa_offset_dn(baseline)
    dn = np.rint(rho * BOA_QUANTIFICATION) + offset
    dn = np.clip(dn, 1, 65534).astype(np.uint16)
    dn[~valid] = 0
    return dn


def encode_tci(rho: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """True-colour uint8 (saturates at reflectance 0.4), 0 where not valid."""
    out = np.clip(np.rint(rho * (255.0 / 0.4)), 1, 255).astype(np.uint8)
    out[~valid] = 0
    return out
