"""Band description shared by the sensor modules: one frozen record per spectral band."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

Provider = Literal["planetary-computer", "earth-search"]
"""The STAC catalogues whose asset naming the sensor modules know."""

PROVIDERS: Final[tuple[Provider, ...]] = get_args(Provider)
REFLECTANCE_UNITS: Final = "1"
"""Unitless (reflectance), as written in CF/STAC ``unit`` fields."""


@dataclass(frozen=True)
class BandInfo:
    """One spectral band of a sensor and where each provider stores it.

    Attributes:
        name: the band name of the sensor (``B04``, ``B8A``...).
        pc_asset_key: the asset key in Microsoft Planetary Computer items.
        es_asset_key: the asset key in Element 84 Earth Search v1 items.
        common_name: the STAC ``eo`` common name (the spec's, which some providers do not follow).
        center_wavelength: centre wavelength in micrometres.
        full_width_half_max: full width at half maximum in micrometres.
        gsd: native ground sample distance in metres.
        units: physical units after decoding (``"1"`` for reflectance).
    """

    name: str
    pc_asset_key: str
    es_asset_key: str
    common_name: str | None
    center_wavelength: float
    full_width_half_max: float
    gsd: float
    units: str = REFLECTANCE_UNITS

    def asset_key(self, provider: Provider) -> str:
        """The asset key of this band in the items of ``provider``.

        Raises:
            ValueError: ``provider`` is not one of ``PROVIDERS``.
        """
        if provider == "planetary-computer":
            return self.pc_asset_key
        if provider == "earth-search":
            return self.es_asset_key
        raise ValueError(f"unknown provider {provider!r}; use one of {', '.join(PROVIDERS)}")
