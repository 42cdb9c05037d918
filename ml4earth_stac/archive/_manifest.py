"""The archive manifest: what was built, with which spec; written last so a crashed build has none."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ml4earth_stac.archive._spec import FORMAT_VERSION, ArchiveSpec
from ml4earth_stac.errors import ArchiveError

MANIFEST_NAME: Final = "manifest.json"


@dataclass(frozen=True)
class SceneRecord:
    """Truth summary of one acquisition (one STAC item).

    Attributes:
        item_id: STAC item id.
        datetime: sensing time, ISO 8601 UTC.
        platform: ``Sentinel-2A`` or ``Sentinel-2B``.
        processing_baseline: e.g. ``"02.12"`` (no offset) or ``"04.00"`` (DN offset +1000).
        cloud_cover: ``eo:cloud_cover`` of the item (percent of valid pixels, SCL 8/9/10).
        aoi_cloud_fraction: fraction (0..1) of valid AOI pixels with SCL 8/9/10.
        nodata_corner: whether the scene has a swath-edge nodata corner.
        front_mean_easting_m: mean easting of the calving front (EPSG:32633).
        front_retreat_m: planned mean retreat since the first date.
    """

    item_id: str
    datetime: str
    platform: str
    processing_baseline: str
    cloud_cover: float
    aoi_cloud_fraction: float
    nodata_corner: bool
    front_mean_easting_m: float
    front_retreat_m: float


@dataclass(frozen=True)
class SensorItemRecord:
    """One item of an extra sensor (Landsat, Sentinel-1) and the Sentinel-2 date whose truth it shows.

    Attributes:
        sensor: ``landsat`` or ``sentinel-1``.
        collection_id: ``landsat-c2-l2`` or ``sentinel-1-rtc``.
        item_id: STAC item id.
        datetime: acquisition time, ISO 8601 UTC (same day as the truth date).
        platform: ``landsat-8``, ``landsat-7``, ``SENTINEL-1A`` or ``SENTINEL-1B``.
        truth_item_id: the Sentinel-2 item whose truth (zones, front, clouds) this scene shows.
        truth_datetime: sensing time of that Sentinel-2 item.
        front_mean_easting_m: mean easting of the calving front of that date (EPSG:32633).
        slc_off: Landsat 7 scene with SLC-off gaps (False for every other item).
    """

    sensor: str
    collection_id: str
    item_id: str
    datetime: str
    platform: str
    truth_item_id: str
    truth_datetime: str
    front_mean_easting_m: float
    slc_off: bool = False


@dataclass(frozen=True)
class ArchiveManifest:
    """What a sample archive holds; also stored as ``<root>/manifest.json``.

    Attributes:
        root: archive folder.
        collection_id: ``sentinel-2-l2a``.
        item_ids: item ids sorted by datetime.
        epsg: EPSG code of every raster (32633).
        aoi_name: ``kronebreen``.
        aoi_geometry_wgs84: GeoJSON Polygon of the AOI (front, fjord, glacier and rock).
        spec: the spec the archive was built with.
        glacier: glacier name (``Kronebreen``).
        aoi_bbox_utm: AOI [xmin, ymin, xmax, ymax] in EPSG:32633.
        scene_bbox_utm: scene [xmin, ymin, xmax, ymax] in EPSG:32633.
        scenes: per-item truth summaries, in ``item_ids`` order.
        extra_items: items of the other sensors of ``spec.sensors`` (empty for a Sentinel-2 only archive),
            stored under ``<root>/<collection_id>/items/<item_id>.json``.
    """

    root: Path
    collection_id: str
    item_ids: tuple[str, ...]
    epsg: int
    aoi_name: str
    aoi_geometry_wgs84: dict[str, Any]
    spec: ArchiveSpec
    glacier: str
    aoi_bbox_utm: tuple[float, float, float, float]
    scene_bbox_utm: tuple[float, float, float, float]
    scenes: tuple[SceneRecord, ...]
    extra_items: tuple[SensorItemRecord, ...] = ()

    @property
    def collection_ids(self) -> tuple[str, ...]:
        """The Sentinel-2 collection first, then the extra collections in ``spec.sensors`` order."""
        extra = dict.fromkeys(r.collection_id for r in self.extra_items)
        return (self.collection_id, *extra)

    def items_of(self, collection_id: str) -> tuple[SensorItemRecord, ...]:
        """The extra items of one collection (e.g. ``landsat-c2-l2``), sorted by truth date."""
        return tuple(r for r in self.extra_items if r.collection_id == collection_id)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (without ``root``)."""
        return {
            "format_version": FORMAT_VERSION,
            "spec": self.spec.to_dict(),
            "collection_id": self.collection_id,
            "item_ids": list(self.item_ids),
            "epsg": self.epsg,
            "aoi_name": self.aoi_name,
            "glacier": self.glacier,
            "aoi_geometry_wgs84": self.aoi_geometry_wgs84,
            "aoi_bbox_utm": list(self.aoi_bbox_utm),
            "scene_bbox_utm": list(self.scene_bbox_utm),
            "scenes": [vars(s) for s in self.scenes],
            "extra_items": [vars(r) for r in self.extra_items],
        }

    def item_path(self, item_id: str) -> Path:
        """Path of an item JSON file (Sentinel-2 in ``items/``, other sensors in ``<collection>/items/``)."""
        for record in self.extra_items:
            if record.item_id == item_id:
                return self.root / record.collection_id / "items" / f"{item_id}.json"
        return self.root / "items" / f"{item_id}.json"

    def all_item_paths(self) -> tuple[Path, ...]:
        """Item files of every collection."""
        return tuple(self.item_path(i) for i in (*self.item_ids, *(r.item_id for r in self.extra_items)))


def write_manifest(manifest: ArchiveManifest) -> None:
    """Write ``manifest.json`` atomically (temp file, then rename)."""
    path = manifest.root / MANIFEST_NAME
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(manifest.to_dict(), indent=2))
    os.replace(tmp, path)


def load_manifest(root: Path) -> ArchiveManifest:
    """Read ``<root>/manifest.json``.

    Args:
        root: archive folder.

    Returns:
        The manifest.

    Raises:
        ArchiveError: when the manifest is missing, unreadable or of another format version.
    """
    path = Path(root) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ArchiveError(f"{path} not found: build the archive first (ml4earth archive build).") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ArchiveError(f"{path} is unreadable ({exc}); delete it and rebuild the archive.") from exc
    if data.get("format_version") != FORMAT_VERSION:
        raise ArchiveError(
            f"{path} has format_version {data.get('format_version')}, expected {FORMAT_VERSION}; "
            "rebuild the archive."
        )
    try:
        return ArchiveManifest(
            root=Path(root),
            collection_id=data["collection_id"],
            item_ids=tuple(data["item_ids"]),
            epsg=int(data["epsg"]),
            aoi_name=data["aoi_name"],
            aoi_geometry_wgs84=data["aoi_geometry_wgs84"],
            spec=ArchiveSpec.from_dict(data["spec"]),
            glacier=data["glacier"],
            aoi_bbox_utm=tuple(data["aoi_bbox_utm"]),
            scene_bbox_utm=tuple(data["scene_bbox_utm"]),
            scenes=tuple(SceneRecord(**s) for s in data["scenes"]),
            extra_items=tuple(SensorItemRecord(**r) for r in data.get("extra_items", [])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ArchiveError(
            f"{path} misses or mangles field {exc}; delete it and rebuild the archive."
        ) from exc
