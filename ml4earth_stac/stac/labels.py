"""STAC of the ML part of a benchmark: label items per AOI and split, and the collection's label fields.

One label item per (AOI, split), e.g. ``kronebreen-train-labels``: its geometry is the union of that split's
chip footprints, so a map (QGIS, stac-browser) shows where train, validation and test lie and that they do
not touch; its ``label:*`` fields (label extension v1.0.1) describe the classes with pixel counts, its
``ml-aoi:split`` names the split, its ``source`` links point at the scene items the chips were cut from,
and its asset is the chip store opened at the sensor's group.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import pyproj
import shapely
import shapely.geometry

from ml4earth_stac.chipping import ChipSummary
from ml4earth_stac.config import Recipe
from ml4earth_stac.stac.build import EXT, STAC_VERSION, ZARR_MEDIA_TYPE

LABEL_EXT: Final = "https://stac-extensions.github.io/label/v1.0.1/schema.json"
ML_AOI_EXT: Final = "https://stac-extensions.github.io/ml-aoi/v0.1.0/schema.json"
ML_AOI_SPLIT: Final = {"train": "train", "val": "validate", "test": "test"}


def chips_asset(href: str, sensor: str | None, title: str, size: int | None = None) -> dict[str, Any]:
    """A Zarr asset of the chip store (``sensor``: the group ``xarray.open_zarr`` should open)."""
    open_kwargs: dict[str, Any] = {"engine": "zarr", "consolidated": True}
    if sensor is not None:
        open_kwargs["group"] = sensor
    asset: dict[str, Any] = {
        "href": href,
        "type": ZARR_MEDIA_TYPE,
        "roles": ["data", "labels"],
        "title": title,
        "xarray:open_kwargs": open_kwargs,
    }
    if size is not None:
        asset["file:size"] = size
    return asset


def label_classes(recipe: Recipe) -> list[dict[str, Any]]:
    """``label:classes`` of raster labels: one unnamed set of class values."""
    labels = recipe.labels
    return [{"name": None, "classes": [c.value for c in labels.classes]}] if labels else []


def label_item(
    recipe: Recipe,
    summaries: list[ChipSummary],
    aoi: str,
    split: str,
    scenes: Mapping[str, tuple[str, str]],
) -> dict[str, Any]:
    """The label item of one AOI and split, over the chips of every chipped sensor.

    Args:
        recipe: the benchmark (with ``labels``).
        summaries: what the chip stage made, one per sensor (the first one's class counts are shown).
        aoi: the AOI name.
        split: ``train``, ``val`` or ``test``.
        scenes: upstream item id -> (our scene item id, its datetime), for the ``source`` links.
    """
    key = (aoi, split)
    having = [s for s in summaries if key in s.footprints]
    footprint = _footprint_wgs84([b for s in having for b in s.footprints[key]], having[0].epsg[aoi])
    used = sorted({i for s in having for i in s.scenes[key]})
    times = sorted(scenes[i][1] for i in used if i in scenes)
    names = {c.value: c.name for c in recipe.labels.classes} if recipe.labels else {}
    pixels = having[0].class_pixels.get(key, {})
    n_chips = {s.sensor: s.chip_counts.get(key, 0) for s in having}
    task = recipe.labels.task if recipe.labels else "segmentation"
    assets = {
        f"chips-{s.sensor}": chips_asset(
            "../../chips.zarr", s.sensor, f"{s.sensor} chips and labels (select split {split!r})"
        )
        for s in having
    }
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": [LABEL_EXT, ML_AOI_EXT, EXT["xarray"]],
        "id": f"{aoi}-{split}-labels",
        "geometry": shapely.geometry.mapping(footprint),
        "bbox": list(footprint.bounds),
        "properties": {
            "datetime": None,
            "start_datetime": times[0] if times else None,
            "end_datetime": times[-1] if times else None,
            "title": f"{aoi}: {split} labels ({', '.join(f'{n} {s}' for s, n in n_chips.items())} chips)",
            "label:properties": None,
            "label:description": (
                f"{task} labels of the {split} chips of {aoi} ({', '.join(n_chips)}): a class value per "
                "pixel, 255 = no label"
            ),
            "label:type": "raster",
            "label:tasks": [task],
            "label:classes": label_classes(recipe),
            "label:overviews": [
                {
                    "property_key": "label",
                    "counts": [{"name": names.get(v, str(v)), "count": int(pixels.get(v, 0))} for v in names],
                }
            ],
            "ml-aoi:split": ML_AOI_SPLIT[split],
            "ml4earth:chips": n_chips,
        },
        "assets": assets,
        "links": [
            {
                "rel": "source",
                "href": f"../{scenes[i][0]}/{scenes[i][0]}.json",
                "type": "application/geo+json",
                "title": f"scene {i}",
                "label:assets": list(assets),
            }
            for i in used
            if i in scenes
        ],
    }


def collection_label_fields(recipe: Recipe, summaries: list[ChipSummary]) -> dict[str, Any]:
    """Summaries the benchmark collection gains from its labels and splits."""
    classes = recipe.labels.classes if recipe.labels else []
    splits = {split for s in summaries for split, n in s.counts.items() if n}
    return {
        "label:type": ["raster"],
        "label:tasks": [recipe.labels.task] if recipe.labels else [],
        "label:classes": label_classes(recipe),
        "ml4earth:classes": [{"value": c.value, "name": c.name} for c in classes],
        "ml-aoi:split": [ML_AOI_SPLIT[s] for s in ("train", "val", "test") if s in splits],
        "ml4earth:chips_per_split": {s.sensor: dict(s.counts) for s in summaries},
    }


def _footprint_wgs84(bounds: list[tuple[float, float, float, float]], epsg: int) -> shapely.Geometry:
    union = shapely.union_all([shapely.geometry.box(*b) for b in bounds])
    to_wgs84 = pyproj.Transformer.from_crs(epsg, 4326, always_xy=True).transform
    dense = union.segmentize(max(union.bounds[2] - union.bounds[0], 1) / 32)
    return shapely.transform(dense, to_wgs84, interleaved=False)
