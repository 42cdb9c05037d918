"""A small sample archive built once per test session (3 dates, 600 px = 6 km scenes)."""

from __future__ import annotations

import pytest

from ml4earth_stac.archive import ArchiveManifest, ArchiveSpec, build_sample_archive

SMALL_SPEC = ArchiveSpec(n_dates=3, scene_size_px=600)


@pytest.fixture(scope="session")
def small_archive(tmp_path_factory: pytest.TempPathFactory) -> ArchiveManifest:
    return build_sample_archive(tmp_path_factory.mktemp("archive") / "kronebreen", SMALL_SPEC)
