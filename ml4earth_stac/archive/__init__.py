"""The sample archive: seeded synthetic scenes of Svalbard glaciers and South American cities, with truth.

Sentinel-2 L2A scenes with Planetary Computer or Earth Search v1 shaped STAC items, optionally Landsat C2 L2
and Sentinel-1 RTC collections showing the same truth per date, written as COGs and served on 127.0.0.1 by
:class:`ArchiveServer` (a static file server with HTTP Range support plus a ``rustac serve`` STAC API).
"""

from ml4earth_stac.archive._bands import BANDS, boa_offset_dn, encode_reflectance
from ml4earth_stac.archive._build import build_sample_archive
from ml4earth_stac.archive._manifest import (
    ArchiveManifest,
    CityRecord,
    GlacierRecord,
    SceneRecord,
    SensorItemRecord,
    load_manifest,
)
from ml4earth_stac.archive._server import ArchiveServer
from ml4earth_stac.archive._spec import COLLECTION_OF_SENSOR, GLACIERS, PROVIDERS, SENSORS, ArchiveSpec

__all__ = [
    "BANDS",
    "COLLECTION_OF_SENSOR",
    "GLACIERS",
    "PROVIDERS",
    "SENSORS",
    "ArchiveManifest",
    "ArchiveServer",
    "ArchiveSpec",
    "CityRecord",
    "GlacierRecord",
    "SceneRecord",
    "SensorItemRecord",
    "boa_offset_dn",
    "build_sample_archive",
    "encode_reflectance",
    "load_manifest",
]
