"""Item preparation against real provider items: proj:epsg (STAC 1.0), proj:code (STAC 1.1), hrefs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pystac
import pytest

from ml4earth_stac.errors import SceneSkipped
from ml4earth_stac.sensors import sentinel2
from ml4earth_stac.sources.items import HrefPolicy, epsg_of, prepare_item

BANDS = ["B03", "B04", "B08", "SCL"]


def _pc_items(reference_dir: Path) -> list[dict]:
    folder = reference_dir / "stac-items" / "planetary-computer" / "sentinel-2-l2a"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("S2*.json"))]


def test_real_pc_items_with_proj_epsg(reference_dir: Path) -> None:
    for item in _pc_items(reference_dir):
        prepared = prepare_item(item, BANDS)
        expected = item["properties"]["proj:epsg"]
        assert prepared["properties"]["proj:epsg"] == expected
        assert {a["proj:epsg"] for a in prepared["assets"].values()} == {expected}
        assert sorted(prepared["assets"]) == sorted(BANDS)
        assert "visual" in item["assets"]  # the input is untouched


def test_migrated_items_with_only_proj_code(reference_dir: Path) -> None:
    """pystac 1.15 migrates proj:epsg to proj:code; the loader must still get an EPSG code."""
    for raw in _pc_items(reference_dir):
        offline = {**copy.deepcopy(raw), "links": []}  # root links would be fetched on to_dict
        migrated = pystac.Item.from_dict(offline).to_dict()
        assert "proj:epsg" not in migrated["properties"] and "proj:code" in migrated["properties"]
        prepared = prepare_item(migrated, BANDS)
        assert prepared["properties"]["proj:epsg"] == raw["properties"]["proj:epsg"]


def test_real_earth_search_items(reference_dir: Path) -> None:
    folder = reference_dir / "stac-items" / "earth-search" / "sentinel-2-l2a"
    keys = [sentinel2.asset_key(b, "earth-search") for b in BANDS]
    for path in sorted(folder.glob("S2*.json")):
        item = json.loads(path.read_text())
        prepared = prepare_item(item, keys)
        assert prepared["assets"]["red"]["proj:epsg"] == item["properties"]["proj:epsg"]


def test_missing_projection_is_a_recorded_skip(reference_dir: Path) -> None:
    item = _pc_items(reference_dir)[0]
    item["properties"].pop("proj:epsg")
    for asset in item["assets"].values():
        asset.pop("proj:epsg", None)
    with pytest.raises(SceneSkipped) as skip:
        prepare_item(item, BANDS)
    assert skip.value.reason == "missing-projection" and skip.value.item_id == item["id"]


def test_missing_band_names_the_assets(reference_dir: Path) -> None:
    item = _pc_items(reference_dir)[0]
    with pytest.raises(SceneSkipped, match=r"\['red'\] are absent") as skip:
        prepare_item(item, ["B03", "red"])
    assert skip.value.reason == "missing-band"


@pytest.mark.parametrize(
    "href",
    ["file:///etc/passwd", "/etc/passwd", "s3://bucket/x.tif", "https://example.com/a/../../secret.tif"],
)
def test_unsafe_hrefs_are_refused(reference_dir: Path, href: str) -> None:
    item = _pc_items(reference_dir)[0]
    item["assets"]["B04"]["href"] = href
    with pytest.raises(SceneSkipped) as skip:
        prepare_item(item, BANDS)
    assert skip.value.reason == "unsafe-href"


def test_host_allow_list(reference_dir: Path) -> None:
    item = _pc_items(reference_dir)[0]
    with pytest.raises(SceneSkipped, match="not in the allowed hosts"):
        prepare_item(item, BANDS, HrefPolicy(hosts=("127.0.0.1",)))
    assert prepare_item(item, BANDS, HrefPolicy(hosts=("sentinel2l2a01.blob.core.windows.net",)))


def test_epsg_of_prefers_the_asset() -> None:
    assert epsg_of("x", {"proj:code": "EPSG:32634"}, {"proj:epsg": 32633}) == 32634
    with pytest.raises(SceneSkipped):
        epsg_of("x", {"proj:code": "IAU:1234"}, {})
