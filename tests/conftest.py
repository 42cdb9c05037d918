"""Shared fixtures: the path of the real reference data, skipped with a reason where it is absent."""

from __future__ import annotations

import os
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
