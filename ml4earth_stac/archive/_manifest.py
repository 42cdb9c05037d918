"""The archive manifest: what was built, with which spec; written last so a crashed build has none."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ml4earth_stac.archive._spec import (
    DEFAULT_GLACIERS,
    FORMAT_VERSION,
    MGRS_TILE,
    S1_COLLECTION_ID,
    ArchiveSpec,
)
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
        front_mean_easting_m: mean easting of the calving front (in the glacier's UTM zone; EPSG:32633 for
            Kronebreen).
        front_retreat_m: planned mean retreat since the first date (negative: the front advanced).
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
        front_mean_easting_m: mean easting of the calving front of that date (the glacier's UTM zone).
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
class GlacierRecord:
    """One glacier (AOI) of the archive and its items.

    Attributes:
        name: AOI name, e.g. ``kronebreen`` or ``negribreen`` (an entry of ``ArchiveSpec.glaciers``).
        glacier: glacier name (``Kronebreen``), the ``glacier`` property of its fronts in ``fronts.geojson``.
        epsg: EPSG code of every raster of its items (32633 for Kronebreen, 32634 for Negribreen).
        mgrs_tile: Sentinel-2 tile of its items (``33XVH``, ``34XDN``).
        aoi_geometry_wgs84: GeoJSON Polygon of the AOI (front, sea, glacier and rock).
        aoi_bbox_utm: AOI [xmin, ymin, xmax, ymax] in ``epsg``.
        scene_bbox_utm: scene [xmin, ymin, xmax, ymax] in ``epsg``.
        item_ids: its Sentinel-2 item ids sorted by datetime.
        scenes: per-item truth summaries, in ``item_ids`` order.
        extra_items: its items of the other sensors of ``spec.sensors``.
    """

    name: str
    glacier: str
    epsg: int
    mgrs_tile: str
    aoi_geometry_wgs84: dict[str, Any]
    aoi_bbox_utm: tuple[float, float, float, float]
    scene_bbox_utm: tuple[float, float, float, float]
    item_ids: tuple[str, ...]
    scenes: tuple[SceneRecord, ...]
    extra_items: tuple[SensorItemRecord, ...] = ()

    def items_of(self, collection_id: str) -> tuple[SensorItemRecord, ...]:
        """Its extra items of one collection (e.g. ``landsat-c2-l2``), sorted by truth date."""
        return tuple(r for r in self.extra_items if r.collection_id == collection_id)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "name": self.name,
            "glacier": self.glacier,
            "epsg": self.epsg,
            "mgrs_tile": self.mgrs_tile,
            "aoi_geometry_wgs84": self.aoi_geometry_wgs84,
            "aoi_bbox_utm": list(self.aoi_bbox_utm),
            "scene_bbox_utm": list(self.scene_bbox_utm),
            "item_ids": list(self.item_ids),
            "scenes": [vars(s) for s in self.scenes],
            "extra_items": [vars(r) for r in self.extra_items],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GlacierRecord:
        """Rebuild a record from :meth:`to_dict` output."""
        return cls(
            name=data["name"],
            glacier=data["glacier"],
            epsg=int(data["epsg"]),
            mgrs_tile=data["mgrs_tile"],
            aoi_geometry_wgs84=data["aoi_geometry_wgs84"],
            aoi_bbox_utm=tuple(data["aoi_bbox_utm"]),
            scene_bbox_utm=tuple(data["scene_bbox_utm"]),
            item_ids=tuple(data["item_ids"]),
            scenes=tuple(SceneRecord(**s) for s in data["scenes"]),
            extra_items=tuple(SensorItemRecord(**r) for r in data.get("extra_items", [])),
        )


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
        glaciers: every glacier of ``spec.glaciers`` in that order, Kronebreen's record repeating the
            fields above (``item_ids``, ``scenes``, ``extra_items``, ``epsg`` ... are Kronebreen's only).
            Left out, it is derived from those fields (a single-glacier archive; its manifest.json has no
            ``glaciers`` key).
        cities: every city of ``spec.cities`` (the urban tree-canopy benchmark), in that order.
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
    glaciers: tuple[GlacierRecord, ...] = ()
    cities: tuple[CityRecord, ...] = ()

    def __post_init__(self) -> None:
        if not self.glaciers:
            object.__setattr__(self, "glaciers", (self.kronebreen_record(),))

    def kronebreen_record(self) -> GlacierRecord:
        """The single-glacier fields as a :class:`GlacierRecord`."""
        return GlacierRecord(
            name=self.aoi_name,
            glacier=self.glacier,
            epsg=self.epsg,
            mgrs_tile=MGRS_TILE,
            aoi_geometry_wgs84=self.aoi_geometry_wgs84,
            aoi_bbox_utm=self.aoi_bbox_utm,
            scene_bbox_utm=self.scene_bbox_utm,
            item_ids=self.item_ids,
            scenes=self.scenes,
            extra_items=self.extra_items,
        )

    def glacier_record(self, name: str) -> GlacierRecord:
        """The record of one glacier by AOI name (``negribreen``).

        Raises:
            ArchiveError: when the archive has no such glacier.
        """
        for record in self.glaciers:
            if record.name == name:
                return record
        names = [r.name for r in self.glaciers]
        raise ArchiveError(
            f"the archive at {self.root} has no glacier {name!r} (it has {names}); "
            "build it with ArchiveSpec(glaciers=...) naming it."
        )

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
        return (
            {
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
            | self._glaciers_dict()
            | ({"cities": [vars(c) for c in self.cities]} if self.cities else {})
        )

    def _glaciers_dict(self) -> dict[str, Any]:
        if tuple(self.spec.glaciers) == DEFAULT_GLACIERS:
            return {}
        return {"glaciers": [g.to_dict() for g in self.glaciers]}

    def item_path(self, item_id: str) -> Path:
        """Path of an item JSON file (Sentinel-2 in ``items/``, other sensors in ``<collection>/items/``)."""
        for glacier in self.glaciers:
            for record in glacier.extra_items:
                if record.item_id == item_id:
                    return self.root / record.collection_id / "items" / f"{item_id}.json"
        for city in self.cities:
            if item_id in city.s1_item_ids:
                return self.root / S1_COLLECTION_ID / "items" / f"{item_id}.json"
        return self.root / "items" / f"{item_id}.json"

    def all_item_paths(self) -> tuple[Path, ...]:
        """Item files of every collection, glacier and city."""
        ids = [i for g in self.glaciers for i in (*g.item_ids, *(r.item_id for r in g.extra_items))]
        ids += [i for c in self.cities for i in (*c.item_ids, *c.s1_item_ids)]
        return tuple(self.item_path(i) for i in ids)

    def city_record(self, name: str) -> CityRecord:
        """The record of one city (``curitiba``).

        Raises:
            ArchiveError: when the archive has no such city.
        """
        for record in self.cities:
            if record.name == name:
                return record
        raise ArchiveError(
            f"the archive at {self.root} has no city {name!r} (it has {[c.name for c in self.cities]}); "
            "build it with ArchiveSpec(cities=...) naming it."
        )


@dataclass(frozen=True)
class CityRecord:
    """One city of the urban tree-canopy benchmark.

    Attributes:
        name: AOI name (``curitiba``); title: the city's name (``Curitiba``).
        epsg: EPSG code of its scenes (its own UTM zone, e.g. 32722 south).
        mgrs_tile: the Sentinel-2 tile of its scenes.
        aoi_geometry_wgs84: GeoJSON Polygon of the AOI (the middle of the scene).
        scene_bbox_utm: scene [xmin, ymin, xmax, ymax] in ``epsg``.
        item_ids: its Sentinel-2 items; s1_item_ids: its Sentinel-1 RTC items (may be empty).
        canopy_fraction: share of the scene under tree canopy (truth).
        truth: relative paths of the truth files: ``canopy_geojson``, ``canopy_parquet``, ``classes``.
    """

    name: str
    title: str
    epsg: int
    mgrs_tile: str
    aoi_geometry_wgs84: dict[str, Any]
    scene_bbox_utm: tuple[float, float, float, float]
    item_ids: tuple[str, ...]
    s1_item_ids: tuple[str, ...]
    canopy_fraction: float
    truth: dict[str, str]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CityRecord:
        """Rebuild a record from its manifest entry."""
        return cls(
            **data
            | {
                "scene_bbox_utm": tuple(data["scene_bbox_utm"]),
                "item_ids": tuple(data["item_ids"]),
                "s1_item_ids": tuple(data["s1_item_ids"]),
            }
        )


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
            glaciers=tuple(GlacierRecord.from_dict(g) for g in data.get("glaciers", [])),
            cities=tuple(CityRecord.from_dict(c) for c in data.get("cities", [])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ArchiveError(
            f"{path} misses or mangles field {exc}; delete it and rebuild the archive."
        ) from exc
