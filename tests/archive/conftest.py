"""Small sample archives built once per test session (3 dates, 600 px = 6 km scenes).

``small_archive`` is Sentinel-2 only, Planetary Computer flavour; ``multi_archive`` has the same seed and
dates with the Earth Search flavour plus the Landsat and Sentinel-1 collections; ``two_glacier_archive`` adds
Negribreen (scenes in EPSG:32634) to Kronebreen, with Sentinel-2 and Landsat.
"""

from __future__ import annotations

import pytest

from ml4earth_stac.archive import ArchiveManifest, ArchiveSpec, build_sample_archive

SMALL_SPEC = ArchiveSpec(n_dates=3, scene_size_px=600)


@pytest.fixture(scope="session")
def small_archive(tmp_path_factory: pytest.TempPathFactory) -> ArchiveManifest:
    return build_sample_archive(tmp_path_factory.mktemp("archive") / "kronebreen", SMALL_SPEC)


# Every sensor, Earth Search flavour; SMALL_SPEC is its Planetary Computer twin (same seed, same surface).
MULTI_SPEC = ArchiveSpec(
    n_dates=3, scene_size_px=600, provider="earth-search", sensors=("sentinel-2", "landsat", "sentinel-1")
)


@pytest.fixture(scope="session")
def multi_archive(tmp_path_factory: pytest.TempPathFactory) -> ArchiveManifest:
    return build_sample_archive(tmp_path_factory.mktemp("multi") / "kronebreen", MULTI_SPEC)


# Two glaciers: Kronebreen (EPSG:32633) and Negribreen (EPSG:32634), Sentinel-2 and Landsat.
TWO_GLACIER_SPEC = ArchiveSpec(
    n_dates=3, scene_size_px=600, sensors=("sentinel-2", "landsat"), glaciers=("kronebreen", "negribreen")
)


@pytest.fixture(scope="session")
def two_glacier_archive(tmp_path_factory: pytest.TempPathFactory) -> ArchiveManifest:
    return build_sample_archive(tmp_path_factory.mktemp("two") / "svalbard", TWO_GLACIER_SPEC)
