"""Recipes and run settings: the only place where YAML is parsed.

A *recipe* (``catalog/<benchmark>.yaml``) says what a benchmark contains: its AOIs, time range, STAC
source, grid and quality thresholds. *Run settings* say how one run executes it: where outputs go,
which STAC API to use instead of the recipe's (the demo points at the local sample archive), and
which Dask cluster does the array work.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ml4earth_stac.errors import RecipeError

RECIPE_ID_PATTERN: Final = r"^[a-z0-9][a-z0-9-]*$"
CRS_RULE_PATTERN: Final = re.compile(r"^(utm|EPSG:\d{4,5})$")
Provider = Literal["planetary-computer", "earth-search"]


class _Strict(BaseModel):
    """Base of every recipe model: unknown keys are errors (typos must not pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ProviderInfo(_Strict):
    """A STAC provider object (who produced or hosts the benchmark)."""

    name: str
    roles: list[Literal["producer", "licensor", "processor", "host"]] = Field(default_factory=list)
    url: str | None = None


class Citation(_Strict):
    """How to cite the benchmark (STAC scientific extension)."""

    text: str
    doi: str | None = None


class Aoi(_Strict):
    """A named area of interest, e.g. one glacier or one city, as an inline WGS84 GeoJSON geometry."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    geometry: dict[str, Any]

    @field_validator("geometry")
    @classmethod
    def _polygonal(cls, geometry: dict[str, Any]) -> dict[str, Any]:
        if geometry.get("type") not in ("Polygon", "MultiPolygon"):
            raise ValueError(f"must be a GeoJSON Polygon or MultiPolygon, got type {geometry.get('type')!r}")
        return geometry


class TimeRange(_Strict):
    """Inclusive date range of the scenes to search for."""

    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    def as_stac_interval(self) -> str:
        """The range as a STAC API ``datetime`` interval string."""
        return f"{self.start.isoformat()}T00:00:00Z/{self.end.isoformat()}T23:59:59Z"


class Source(_Strict):
    """Where one sensor's scenes come from."""

    sensor: str = Field(description="sensor with an adapter, e.g. 'sentinel-2'")
    api: str = Field(description="STAC API root URL")
    collection: str
    provider: Provider = "planetary-computer"
    bands: list[str] = Field(min_length=1, description="band names, e.g. B03 (not provider asset keys)")
    max_cloud_cover: float = Field(100.0, ge=0, le=100, description="scene-level eo:cloud_cover limit, %")


class Grid(_Strict):
    """The output grid of every AOI: CRS rule, pixel size and Zarr chunking."""

    crs: str = Field("utm", description="'utm' (zone of the AOI centroid) or an explicit 'EPSG:nnnnn'")
    resolution: float = Field(gt=0, description="pixel size in CRS units (metres)")
    chunk_px: int = Field(512, ge=64, le=4096)
    shard_px: int = Field(2048, ge=64, le=16384)
    resampling: Literal["nearest", "bilinear", "average", "cubic"] = "bilinear"

    @field_validator("crs")
    @classmethod
    def _crs_rule(cls, crs: str) -> str:
        if not CRS_RULE_PATTERN.match(crs):
            raise ValueError(f"must be 'utm' or 'EPSG:<code>', got {crs!r}")
        return crs

    @model_validator(mode="after")
    def _shards_hold_whole_chunks(self) -> Grid:
        if self.shard_px % self.chunk_px:
            raise ValueError(f"shard_px {self.shard_px} must be a multiple of chunk_px {self.chunk_px}")
        return self


class Quality(_Strict):
    """Per-scene thresholds, measured over the AOI grid after loading."""

    min_valid_fraction: float = Field(0.05, ge=0, le=1)
    max_cloud_fraction: float = Field(0.9, ge=0, le=1)
    masked_scl_classes: list[int] = Field(default_factory=lambda: [0, 1, 3, 8, 9, 10])


class LabelClass(_Strict):
    """One class of the label rasters (``label:classes``)."""

    value: int = Field(ge=0, le=254)  # 255 is the label nodata (ignore index)
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")


class LabelSource(_Strict):
    """One label file (or one per scene/AOI), burned onto each chipped scene in recipe order.

    ``href`` is a path or URL; a relative one is resolved against the run's ``labels_root``. Placeholders:
    ``{item_id}`` (the scene's upstream item: a per-scene raster label) and ``{aoi}``.
    """

    kind: Literal["raster", "polygons", "lines"]
    href: str
    class_field: str | None = Field(None, description="polygons: the attribute holding the class name")
    value: int | None = Field(None, ge=0, le=254, description="class burned where class_field is unset")
    width_m: float | None = Field(None, gt=0, description="lines: burned width in metres")
    aoi_field: str | None = Field(None, description="attribute naming the AOI (case-insensitive)")
    date_field: str | None = Field(None, description="attribute with the label's date; None: static")

    @model_validator(mode="after")
    def _complete(self) -> LabelSource:
        if self.kind == "lines" and (self.width_m is None or self.value is None):
            raise ValueError("kind 'lines' needs width_m and value (the class burned along the lines)")
        if self.kind == "polygons" and (self.class_field is None) == (self.value is None):
            raise ValueError("kind 'polygons' needs exactly one of class_field or value")
        return self


class Labels(_Strict):
    """What the chips are labelled with."""

    sensors: list[str] = Field(
        min_length=1, description="the sensors whose cubes are chipped, e.g. [sentinel-2]"
    )
    task: Literal["segmentation"] = "segmentation"
    classes: list[LabelClass] = Field(min_length=1)
    sources: list[LabelSource] = Field(min_length=1)
    date_tolerance_days: float = Field(1.0, ge=0, description="dated labels: nearest scene within this")
    background: int | None = Field(
        None, ge=0, le=254, description="class of pixels no label source covers; None: no label (255)"
    )

    @model_validator(mode="after")
    def _known_values(self) -> Labels:
        known = {c.value for c in self.classes}
        used = {s.value for s in self.sources if s.value is not None} | {self.background} - {None}
        unknown = sorted(used - known)
        if unknown:
            raise ValueError(f"label values {unknown} are not among classes {sorted(known)}")
        return self


class Chips(_Strict):
    """The chip grid over each AOI and the per-chip filters."""

    size_px: int = Field(256, ge=16)
    overlap_px: int = Field(0, ge=0)
    min_valid_fraction: float = Field(0.8, ge=0, le=1, description="share of pixels with every band valid")
    max_cloud_fraction: float = Field(0.1, ge=0, le=1, description="cloudy share of the valid pixels (mask)")
    min_label_fraction: float = Field(0.5, ge=0, le=1, description="share of pixels with a class")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Chips:
        if self.overlap_px >= self.size_px:
            raise ValueError(f"overlap_px {self.overlap_px} must be below size_px {self.size_px}")
        return self


class Splits(_Strict):
    """Spatially disjoint train/val/test splits, reproducible from the seed."""

    method: Literal["block", "aoi"] = "block"
    block_m: float | None = Field(None, gt=0)
    buffer_m: float = Field(0.0, ge=0)
    fractions: dict[Literal["train", "val", "test"], float] = Field(
        default_factory=lambda: {"train": 0.7, "val": 0.15, "test": 0.15}
    )
    seed: int = 0

    @model_validator(mode="after")
    def _block_size(self) -> Splits:
        if self.method == "block" and self.block_m is None:
            raise ValueError("method 'block' needs block_m (the block edge in metres)")
        return self


class Recipe(_Strict):
    """One benchmark: what a published STAC collection contains."""

    id: str = Field(pattern=RECIPE_ID_PATTERN)
    title: str
    description: str
    license: str
    keywords: list[str] = Field(default_factory=list)
    providers: list[ProviderInfo] = Field(default_factory=list)
    citation: Citation | None = None
    aois: list[Aoi] = Field(min_length=1)
    time_range: TimeRange
    sources: list[Source] = Field(min_length=1)
    grid: Grid
    quality: Quality = Quality()
    labels: Labels | None = None
    chips: Chips | None = None
    splits: Splits | None = None

    @model_validator(mode="after")
    def _ml_parts_together(self) -> Recipe:
        given = {name: getattr(self, name) is not None for name in ("labels", "chips", "splits")}
        if any(given.values()) and not all(given.values()):
            missing = [name for name, present in given.items() if not present]
            raise ValueError(f"labels, chips and splits come together; missing {missing}")
        missing = sorted(set(self.labels.sensors if self.labels else ()) - {s.sensor for s in self.sources})
        if missing:
            raise ValueError(f"labels.sensors {missing} have no source in sources")
        return self

    @model_validator(mode="after")
    def _unique_aoi_names(self) -> Recipe:
        names = [aoi.name for aoi in self.aois]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"AOI names must be unique, repeated: {duplicates}")
        return self

    @model_validator(mode="after")
    def _one_source_per_sensor_and_one_provider(self) -> Recipe:
        sensors = [source.sensor for source in self.sources]
        if len(set(sensors)) != len(sensors):
            raise ValueError(f"each sensor may appear once in sources, got {sensors}")
        providers = sorted({source.provider for source in self.sources})
        if len(providers) > 1:
            raise ValueError(
                f"mixed providers {providers} in one recipe: every source must follow the same provider's "
                "conventions (asset keys, offsets); split the recipe or pick one provider"
            )
        return self


class RunSettings(BaseModel):
    """How one run executes a recipe (not part of the benchmark's definition)."""

    model_config = ConfigDict(frozen=True)

    output_dir: Path = Path("outputs")
    stac_api: str | None = Field(None, description="use this STAC API instead of the recipe's")
    dask_address: str | None = Field(None, description="tcp://host:port of a Dask scheduler; None = threads")
    threads: int = Field(2, ge=1)
    labels_root: str | None = Field(
        None, description="folder or URL that relative label hrefs are resolved against; None = cwd"
    )
    allowed_hosts: tuple[str, ...] | None = Field(
        None, description="asset hosts that may be fetched; None = any host over http(s)"
    )


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe YAML file.

    Args:
        path: the recipe file, e.g. ``catalog/svalbard-calving-fronts.yaml``.

    Returns:
        The validated recipe.

    Raises:
        RecipeError: the file is missing or not YAML, or a field is unknown, missing or invalid; the
            message names the file, the field path and, for a typo, the closest valid field name.
    """
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe {path} does not exist; recipes live in catalog/<benchmark>.yaml")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise RecipeError(f"recipe {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise RecipeError(f"recipe {path} must be a YAML mapping at the top level")
    try:
        return Recipe.model_validate(raw)
    except ValidationError as exc:
        raise RecipeError(f"recipe {path} is invalid:\n" + _explain(exc)) from exc


def _explain(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"])
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = f"unknown field {error['loc'][-1]!r}" + _suggestion(error["loc"])
        lines.append(f"  - {location}: {message}")
    return "\n".join(lines)


def _suggestion(location: tuple[Any, ...]) -> str:
    model: type[BaseModel] = Recipe
    for part in location[:-1]:
        if isinstance(part, int):
            continue
        annotation = model.model_fields[str(part)].annotation
        inner = getattr(annotation, "__args__", (annotation,))
        nested = [a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)]
        if not nested:
            return ""
        model = nested[0]
    close = difflib.get_close_matches(str(location[-1]), list(model.model_fields), n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; valid fields: {sorted(model.model_fields)}"
