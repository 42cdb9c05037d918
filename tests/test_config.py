"""Recipes: the shipped ones load; typos and bad values give errors that name file, field and fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ml4earth_stac.config import load_recipe
from ml4earth_stac.errors import RecipeError

CATALOG = Path(__file__).resolve().parents[1] / "catalog"


@pytest.mark.parametrize("path", sorted(CATALOG.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_recipes_load(path: Path) -> None:
    recipe = load_recipe(path)
    assert recipe.id == path.stem
    assert recipe.grid.shard_px % recipe.grid.chunk_px == 0


def _write(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load((CATALOG / "svalbard-calving-fronts.yaml").read_text())
    mutate(raw)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_typo_names_field_and_suggests(tmp_path: Path) -> None:
    def typo(raw: dict) -> None:
        raw["sources"][0]["max_clod_cover"] = raw["sources"][0].pop("max_cloud_cover")

    with pytest.raises(RecipeError) as err:
        load_recipe(_write(tmp_path, typo))
    message = str(err.value)
    assert "recipe.yaml" in message
    assert "sources.0.max_clod_cover" in message and "did you mean 'max_cloud_cover'" in message


def test_top_level_typo(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="did you mean 'time_range'"):
        load_recipe(_write(tmp_path, lambda raw: raw.__setitem__("time_rnage", raw.pop("time_range"))))


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r["grid"].__setitem__("crs", "UTM33"), "grid.crs"),
        (lambda r: r["grid"].__setitem__("shard_px", 1000), "multiple of chunk_px"),
        (lambda r: r["time_range"].__setitem__("end", "1999-01-01"), "before start"),
        (lambda r: r["aois"][0]["geometry"].__setitem__("type", "Point"), "Polygon"),
        (lambda r: r["sources"][0].__setitem__("max_cloud_cover", 150), "sources.0.max_cloud_cover"),
        (lambda r: r["sources"][1].__setitem__("provider", "earth-search"), "mixed providers"),
        (lambda r: r["sources"].append(dict(r["sources"][0])), "each sensor may appear once"),
        (lambda r: r.__setitem__("aois", r["aois"] * 2), "unique"),
        (lambda r: r.pop("splits"), "labels, chips and splits come together; missing \\['splits'\\]"),
        (lambda r: r["labels"]["sources"][1].pop("width_m"), "needs width_m and value"),
        (lambda r: r["labels"]["sources"][1].update(kind="polygons", class_field="zone"), "exactly one of"),
        (lambda r: r["labels"]["sources"][1].__setitem__("value", 9), "label values \\[9\\] are not among"),
        (
            lambda r: r["labels"].__setitem__("sensors", ["modis"]),
            "labels.sensors \\['modis'\\] have no source",
        ),
        (lambda r: r["labels"]["classes"].append({"value": 255, "name": "x"}), "labels.classes.4.value"),
        (lambda r: r["chips"].__setitem__("overlap_px", 128), "overlap_px 128 must be below size_px 128"),
        (lambda r: r["splits"].pop("block_m"), "needs block_m"),
        (lambda r: r["splits"]["fractions"].__setitem__("training", 0.5), "splits.fractions.training"),
    ],
)
def test_invalid_values(tmp_path: Path, mutate, expected: str) -> None:
    with pytest.raises(RecipeError, match=expected):
        load_recipe(_write(tmp_path, mutate))


def test_missing_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: [unclosed")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(bad)
