"""Offline STAC validation against the real schema mirror and real provider items."""

from __future__ import annotations

import copy
import json
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pystac
import pytest
from pystac.extensions.eo import Band, EOExtension
from pystac.extensions.file import FileExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension

from ml4earth_stac.errors import StacError
from ml4earth_stac.stac.validate import (
    DEFAULT_SCHEMAS_ENV,
    LINK_CHECK,
    REFERENCE_ENV,
    StacValidator,
    ValidationReport,
    default_schemas_dir,
    validate_tree,
)

PC_S2 = Path("stac-items/planetary-computer/sentinel-2-l2a")
ES_S2 = Path("stac-items/earth-search/sentinel-2-l2a")
S2_EXTENSION = "https://stac-extensions.github.io/sentinel-2/v1.0.0/schema.json"
EO_V100 = "https://stac-extensions.github.io/eo/v1.0.0/schema.json"
LANDSAT_USGS = "https://landsat.usgs.gov/stac/landsat-extension/v1.1.1/schema.json"


@pytest.fixture(scope="module")
def validator(reference_dir: Path) -> StacValidator:
    return StacValidator(reference_dir / "stac-schemas")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a socket fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


# --- real provider items ---------------------------------------------------------------------------------


def _real_files(reference_dir: Path, folder: Path) -> list[Path]:
    files = sorted((reference_dir / folder).glob("*.json")) + sorted(
        (reference_dir / folder).glob("*.geojson")
    )
    assert files, f"no reference files in {reference_dir / folder}"
    return files


def test_every_planetary_computer_s2_file_validates(
    reference_dir: Path, validator: StacValidator, no_network: None
) -> None:
    """MANIFEST: all PC sentinel-2-l2a items/collections validate against core + every declared extension."""
    checked = 0
    for file in _real_files(reference_dir, PC_S2):
        report = validate_tree(file, validator)
        assert report.ok, report.summary()
        checked += report.checked
    # 5 single items + collection + items-page (1 feature) + item collection (9 features)
    assert checked == 16


def test_earth_search_s2_items_fail_only_as_the_manifest_says(
    reference_dir: Path, validator: StacValidator
) -> None:
    """MANIFEST: the 2025 ES item fails sentinel-2 v1.0.0 on the undeclared `s2:sequence`; 2023 validates."""
    problems = {
        file.name: validate_tree(file, validator).problems for file in _real_files(reference_dir, ES_S2)
    }
    assert problems["S2A_13TDE_20231008_0_L2A.json"] == ()
    assert problems["collection.json"] == ()
    failing = problems["S2B_24MUV_20250731_0_L2A.json"]
    assert failing, "the 2025 Earth Search item was expected to fail sentinel-2 v1.0.0"
    assert {problem.schema for problem in failing} == {S2_EXTENSION}
    assert all(
        "s2:sequence" in problem.message and problem.message.startswith("/properties") for problem in failing
    )


def test_aster_items_fail_eo_on_swir_common_name(reference_dir: Path, validator: StacValidator) -> None:
    """MANIFEST: PC aster-l1t use `common_name: swir` (not in the eo v1.0.0 enum); the message says where."""
    file = (
        reference_dir
        / "stac-items/planetary-computer/aster-l1t/AST_L1T_00312272006020322_20150518201805.json"
    )
    report = validate_tree(file, validator)
    assert [problem.schema for problem in report.problems] == [EO_V100]
    assert report.problems[0].message.startswith("/assets/SWIR/eo:bands/")
    assert "common_name" in report.problems[0].message and "'swir'" in report.problems[0].message


def test_unpublished_landsat_extension_is_a_clear_error_or_skipped(
    reference_dir: Path, validator: StacValidator, no_network: None
) -> None:
    """MANIFEST: the USGS landsat extension schema is not mirrored; validators must skip or allow-list it."""
    file = reference_dir / "stac-items/planetary-computer/landsat-c2-l2/LC09_L2SP_090091_20250310_02_T1.json"
    with pytest.raises(StacError, match="landsat-extension/v1.1.1"):
        validate_tree(file, validator)
    skipping = StacValidator(reference_dir / "stac-schemas", skip_schemas=[LANDSAT_USGS])
    assert validate_tree(file, skipping).ok


# --- our own output: a pystac 1.15 tree ---------------------------------------------------------------------


def _make_item() -> pystac.Item:
    item = pystac.Item(
        id="chip-0001",
        geometry={"type": "Polygon", "coordinates": [[[10, 78], [11, 78], [11, 79], [10, 79], [10, 78]]]},
        bbox=[10.0, 78.0, 11.0, 79.0],
        datetime=datetime(2024, 7, 1, 12, tzinfo=UTC),
        properties={},
    )
    asset = pystac.Asset(href="./chip-0001.tif", media_type=pystac.MediaType.COG, roles=["data"])
    item.add_asset("B04", asset)
    proj = ProjectionExtension.ext(item, add_if_missing=True)
    proj.code, proj.shape = "EPSG:32633", [256, 256]
    proj.transform = [10.0, 0.0, 500000.0, 0.0, -10.0, 8700000.0]
    eo = EOExtension.ext(asset, add_if_missing=True)
    eo.bands = [
        Band.create(name="B04", common_name="red", center_wavelength=0.665, full_width_half_max=0.038)
    ]
    EOExtension.ext(item).cloud_cover = 3.5
    RasterExtension.ext(asset, add_if_missing=True).bands = [
        RasterBand.create(nodata=0, data_type=DataType.UINT16, scale=1e-4, offset=-0.1)
    ]
    file_ext = FileExtension.ext(asset, add_if_missing=True)
    file_ext.checksum, file_ext.size = "1220" + "ab" * 32, 131072
    return item


def _save_tree(root: Path) -> Path:
    catalog = pystac.Catalog(id="ml4earth", description="test root catalog")
    extent = pystac.Extent(
        pystac.SpatialExtent([[10.0, 78.0, 11.0, 79.0]]),
        pystac.TemporalExtent([[datetime(2024, 1, 1, tzinfo=UTC), None]]),
    )
    collection = pystac.Collection(
        id="svalbard", description="test collection", extent=extent, license="CC-BY-4.0"
    )
    collection.add_item(_make_item())
    catalog.add_child(collection)
    catalog.normalize_and_save(str(root), catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return root / "catalog.json"


@pytest.fixture
def saved_tree(tmp_path: Path) -> Path:
    return _save_tree(tmp_path / "stac")


def _item_file(tree: Path) -> Path:
    return tree.parent / "svalbard" / "chip-0001" / "chip-0001.json"


def test_pystac_tree_validates_offline(saved_tree: Path, validator: StacValidator, no_network: None) -> None:
    item = json.loads(_item_file(saved_tree).read_text())
    assert item["stac_version"] == "1.1.0"
    assert "https://stac-extensions.github.io/projection/v2.0.0/schema.json" in item["stac_extensions"]
    report = validate_tree(saved_tree.parent, validator)
    assert report == ValidationReport(checked=3, problems=())
    assert report.ok


def _mutate(item: dict[str, Any], field: str) -> None:
    asset = item["assets"]["B04"]
    if field == "datetime":
        del item["properties"]["datetime"]
    elif field == "proj:shape":
        item["properties"]["proj:shape"] = "256x256"
    elif field == "file:checksum":
        asset["file:checksum"] = "not-a-hex-multihash"
    elif field == "eo:cloud_cover":
        item["properties"]["eo:cloud_cover"] = 140
    elif field == "data_type":
        asset["raster:bands"][0]["data_type"] = "uint12"


@pytest.mark.parametrize(
    ("field", "pointer", "schema_part"),
    [
        ("datetime", "/properties", "item-spec"),
        ("proj:shape", "/properties/proj:shape", "projection/v2.0.0"),
        ("file:checksum", "/assets/B04/file:checksum", "file/v2.1.0"),
        ("eo:cloud_cover", "/properties/eo:cloud_cover", "eo/v1.1.0"),
        ("data_type", "/assets/B04/raster:bands/0/data_type", "raster/v1.1.0"),
    ],
)
def test_mutations_fail_naming_the_field(
    saved_tree: Path, validator: StacValidator, field: str, pointer: str, schema_part: str
) -> None:
    item = json.loads(_item_file(saved_tree).read_text())
    broken = copy.deepcopy(item)
    _mutate(broken, field)
    problems = validator.validate_dict(broken, "chip-0001.json")
    assert problems, f"mutating {field} was expected to fail"
    assert any(schema_part in p.schema and p.message.startswith(pointer) for p in problems), problems
    assert all(field.split(":")[-1] in p.message or field in p.message for p in problems), problems
    assert validator.validate_dict(item) == []


def test_broken_child_link_is_reported(saved_tree: Path, validator: StacValidator) -> None:
    catalog = json.loads(saved_tree.read_text())
    catalog["links"].append(
        {"rel": "child", "href": "./glaciers/collection.json", "type": "application/json"}
    )
    saved_tree.write_text(json.dumps(catalog))
    report = validate_tree(saved_tree, validator)
    assert report.checked == 3
    [problem] = report.problems
    assert problem.schema == LINK_CHECK and problem.path == str(saved_tree.resolve())
    assert "./glaciers/collection.json" in problem.message and "glaciers/collection.json" in problem.message
    with pytest.raises(StacError, match="glaciers"):
        report.raise_for_problems()


def test_remote_links_are_not_followed(saved_tree: Path, validator: StacValidator, no_network: None) -> None:
    catalog = json.loads(saved_tree.read_text())
    catalog["links"].append({"rel": "child", "href": "https://example.com/stac/catalog.json"})
    saved_tree.write_text(json.dumps(catalog))
    assert validate_tree(saved_tree, validator).ok


def test_unmapped_extension_is_a_clear_error_without_network(
    saved_tree: Path, validator: StacValidator, no_network: None
) -> None:
    item = json.loads(_item_file(saved_tree).read_text())
    url = "https://stac-extensions.github.io/made-up/v9.9.9/schema.json"
    item["stac_extensions"].append(url)
    with pytest.raises(StacError, match=r"made-up/v9\.9\.9.*schema-map\.json"):
        validator.validate_dict(item)


def test_unmapped_nested_ref_is_a_clear_error(tmp_path: Path, no_network: None) -> None:
    """A mapped schema whose `$ref` points to an unmapped URL raises StacError naming that URL."""
    url = "https://example.com/ext/v1.0.0/schema.json"
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$ref": "https://example.com/missing.json",
    }
    core = "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json"
    (tmp_path / "ext.json").write_text(json.dumps(schema))
    (tmp_path / "core.json").write_text("{}")
    (tmp_path / "schema-map.json").write_text(json.dumps({url: "ext.json", core: "core.json"}))
    validator = StacValidator(tmp_path)
    with pytest.raises(StacError, match=r"example\.com/missing\.json"):
        validator.validate_dict({"type": "Feature", "stac_version": "1.1.0", "stac_extensions": [url]})


def test_unsupported_stac_version_is_a_clear_error(validator: StacValidator) -> None:
    with pytest.raises(StacError, match="v1.0.0-beta.2"):
        validator.validate_dict({"type": "Catalog", "stac_version": "1.0.0-beta.2", "id": "x"})


def test_not_a_stac_document(validator: StacValidator) -> None:
    problems = validator.validate_dict({"type": "object"}, "queryables.json")
    assert [p.message.split(":")[0] for p in problems] == ["/type", "/stac_version"]


def test_missing_root_is_a_clear_error(tmp_path: Path, validator: StacValidator) -> None:
    with pytest.raises(StacError, match="catalog.json"):
        validate_tree(tmp_path, validator)


def test_invalid_json_in_tree_is_a_problem(saved_tree: Path, validator: StacValidator) -> None:
    _item_file(saved_tree).write_text("{not json")
    report = validate_tree(saved_tree, validator)
    assert report.checked == 2
    assert [p.message.split(":")[0] for p in report.problems] == ["/"]


def test_default_schemas_dir_follows_env(
    reference_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DEFAULT_SCHEMAS_ENV, raising=False)
    monkeypatch.setenv(REFERENCE_ENV, str(reference_dir))
    assert default_schemas_dir() == (reference_dir / "stac-schemas").resolve()
    monkeypatch.setenv(DEFAULT_SCHEMAS_ENV, str(tmp_path))
    with pytest.raises(StacError, match=DEFAULT_SCHEMAS_ENV):
        default_schemas_dir()


def test_validators_are_cached(validator: StacValidator) -> None:
    url = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
    assert validator.validator_for(url) is validator.validator_for(url + "#")
