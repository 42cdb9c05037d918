"""The sample archive: seeded synthetic Sentinel-2 L2A scenes of Kronebreen (Svalbard) with known truth.

Scenes are written as COGs with Planetary Computer shaped STAC items and served on 127.0.0.1 by
:class:`ArchiveServer` (a static file server with HTTP Range support plus a ``rustac serve`` STAC API).
"""

from ml4earth_stac.archive._bands import BANDS, boa_offset_dn, encode_reflectance
from ml4earth_stac.archive._build import build_sample_archive
from ml4earth_stac.archive._manifest import ArchiveManifest, SceneRecord, load_manifest
from ml4earth_stac.archive._server import ArchiveServer
from ml4earth_stac.archive._spec import ArchiveSpec

__all__ = [
    "BANDS",
    "ArchiveManifest",
    "ArchiveServer",
    "ArchiveSpec",
    "SceneRecord",
    "boa_offset_dn",
    "build_sample_archive",
    "encode_reflectance",
    "load_manifest",
]
