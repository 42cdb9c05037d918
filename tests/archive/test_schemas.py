"""Items and collection of the archive validate offline against the STAC schemas in the reference data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

from ml4earth_stac.archive import ArchiveManifest

CORE = {
    "Feature": "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json",
    "Collection": "https://schemas.stacspec.org/v1.1.0/collection-spec/json-schema/collection.json",
}


def _registry(schemas: Path) -> Registry:
    mapping = json.loads((schemas / "schema-map.json").read_text())

    def retrieve(uri: str) -> Resource:
        local = mapping.get(uri) or mapping.get(uri.split("#")[0])
        if local is None:
            raise NoSuchResource(ref=uri)
        return Resource.from_contents(json.loads((schemas / local).read_text()))

    return Registry(retrieve=retrieve)


def _errors(doc: dict, schemas: Path) -> list[str]:
    registry = _registry(schemas)
    out = []
    for url in [CORE[doc["type"]], *doc.get("stac_extensions", [])]:
        schema = registry.get_or_retrieve(url).value.contents
        validator = Draft7Validator(schema, registry=registry)
        out += [f"{url}: {e.message}" for e in validator.iter_errors(doc)]
    return out


def test_items_and_collection_validate(small_archive: ArchiveManifest, reference_dir: Path) -> None:
    schemas = reference_dir / "stac-schemas"
    if not (schemas / "schema-map.json").is_file():
        pytest.skip(f"no STAC schemas under {schemas}")
    docs = [json.loads(small_archive.item_path(i).read_text()) for i in small_archive.item_ids]
    docs.append(json.loads((small_archive.root / "collection.json").read_text()))
    for doc in docs:
        assert _errors(doc, schemas) == [], doc["id"]
