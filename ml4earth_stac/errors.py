"""Errors of ml4earth-stac: one base class, one subclass per pipeline stage.

Every message names the item, file or field at fault and says what to do about it.
"""

from __future__ import annotations


class Ml4EarthError(Exception):
    """Base class of every error raised on purpose by ml4earth-stac."""


class RecipeError(Ml4EarthError):
    """A recipe YAML file is missing, unparsable, or does not match the recipe schema."""


class SourceError(Ml4EarthError):
    """A STAC API search failed, returned nothing usable, or an item is unusable."""


class SceneSkipped(Ml4EarthError):
    """One scene cannot be ingested; the batch goes on without it.

    Attributes:
        item_id: the upstream STAC item id.
        reason: a short machine-friendly reason key (e.g. ``asset-unreadable``).
    """

    def __init__(self, item_id: str, reason: str, detail: str) -> None:
        super().__init__(f"scene {item_id} skipped ({reason}): {detail}")
        self.item_id = item_id
        self.reason = reason
        self.detail = detail


class GridError(Ml4EarthError):
    """An AOI cannot be turned into a grid (bad geometry, CRS or resolution)."""


class LoadError(Ml4EarthError):
    """Lazily loading or decoding scenes failed."""


class StoreError(Ml4EarthError):
    """Writing or reading a Zarr store failed or found an inconsistent store."""


class StacError(Ml4EarthError):
    """Building, writing or validating STAC failed."""


class ArchiveError(Ml4EarthError):
    """Building or serving the sample archive failed."""


class LabelError(Ml4EarthError):
    """A label file or label geometry cannot be read, repaired, rasterized or matched to scenes."""
