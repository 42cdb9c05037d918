"""Shared fixtures: the path of the real reference data, skipped with a reason where it is absent."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_ENV = "ML4EARTH_REFERENCE"


def reference_root() -> Path:
    """The real reference data folder: $ML4EARTH_REFERENCE, default ../shared/reference beside the repo."""
    return Path(os.environ.get(REFERENCE_ENV, REPO_ROOT.parent / "shared" / "reference")).resolve()


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    root = reference_root()
    if not (root / "stac-items").is_dir():
        pytest.skip(f"real reference data not found at {root}; set {REFERENCE_ENV} to its folder")
    return root


SMALL_ARCHIVE_SPEC_KWARGS = {"n_dates": 6, "seed": 3, "scene_size_px": 1200}
ALL_SENSORS = ("sentinel-2", "landsat", "sentinel-1", "aster")


@pytest.fixture(scope="session")
def small_archive(tmp_path_factory: pytest.TempPathFactory):
    """A small seeded sample archive (6 dates, 12 km scenes), built once per test session."""
    from ml4earth_stac.archive import ArchiveSpec, build_sample_archive

    return build_sample_archive(tmp_path_factory.mktemp("archive"), ArchiveSpec(**SMALL_ARCHIVE_SPEC_KWARGS))


@pytest.fixture(scope="session")
def small_archive_server(small_archive):
    """The small archive served on 127.0.0.1: a real STAC API (rustac) and a Range-capable file server."""
    from ml4earth_stac.archive import ArchiveServer

    with ArchiveServer(small_archive.root) as server:
        yield server


def recipe_for_archive(manifest, with_labels: bool = False, **overrides):
    """The Svalbard recipe, with the AOI of a (possibly smaller) sample archive and optional overrides.

    Without ``with_labels`` the ML part (labels, chips, splits) is left out: the run ingests and publishes
    the cubes only.
    """
    from ml4earth_stac.config import Recipe, load_recipe

    raw = load_recipe(REPO_ROOT / "catalog" / "svalbard-calving-fronts.yaml").model_dump(mode="json")
    if not with_labels:
        for part in ("labels", "chips", "splits"):
            raw[part] = None
    raw["aois"] = [{"name": g.name, "geometry": g.aoi_geometry_wgs84} for g in manifest.glaciers]
    raw["sources"] = [s for s in raw["sources"] if s["collection"] in manifest.collection_ids]
    for source in raw["sources"]:
        source["provider"] = manifest.spec.provider
    for dotted, value in overrides.items():
        target = raw
        *parents, leaf = dotted.split("__")
        for key in parents:
            target = target[key]
        target[leaf] = value
    return Recipe.model_validate(raw)


def stac_items_in(path: Path) -> list[dict]:
    """The STAC items of a JSON file: the item itself or the features of a FeatureCollection; none else."""
    import json

    doc = json.loads(path.read_text())
    if doc.get("type") == "FeatureCollection":
        return list(doc["features"])
    return [doc] if doc.get("type") == "Feature" else []


@contextlib.contextmanager
def serving(folder: Path) -> Iterator[str]:
    """``folder`` served on a free 127.0.0.1 port (Range + CORS, as `ml4earth serve` does); its base URL."""
    import uvicorn

    from ml4earth_stac.stac.serve import static_app

    server = uvicorn.Server(uvicorn.Config(static_app(folder), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
