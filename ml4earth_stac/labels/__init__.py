"""Labels: vector and raster labels -> arrays on the pixel grid, and labels matched to scenes.

A short one-way pipeline: :func:`read_labels` -> :func:`repair_geometries` -> :func:`rasterize_classes` /
:func:`rasterize_binary` / :func:`rasterize_lines` (which reproject to the grid CRS themselves), or
:func:`read_raster_label` for raster labels; :func:`match_labels_to_scenes` / :func:`match_static_labels`
decide which scenes each label goes with; :func:`assign_splits` makes spatially disjoint train/val/test
splits of chips, and :class:`BandStatistics` / :class:`ClassFrequencies` summarise the train split.
"""

from ml4earth_stac.labels.matching import (
    MatchResult,
    StaticMatchResult,
    match_labels_to_scenes,
    match_static_labels,
)
from ml4earth_stac.labels.raster import read_raster_label
from ml4earth_stac.labels.rasterize import rasterize_binary, rasterize_classes, rasterize_lines
from ml4earth_stac.labels.splits import ChipFootprint, SplitAssignment, assign_splits
from ml4earth_stac.labels.statistics import BandStatistics, BandStatisticsResult, ClassFrequencies
from ml4earth_stac.labels.vector import (
    LabelProblem,
    feature_ids,
    read_labels,
    repair_geometries,
    to_grid_crs,
)

__all__ = [
    "BandStatistics",
    "BandStatisticsResult",
    "ChipFootprint",
    "ClassFrequencies",
    "LabelProblem",
    "MatchResult",
    "SplitAssignment",
    "StaticMatchResult",
    "assign_splits",
    "feature_ids",
    "match_labels_to_scenes",
    "match_static_labels",
    "rasterize_binary",
    "rasterize_classes",
    "rasterize_lines",
    "read_labels",
    "read_raster_label",
    "repair_geometries",
    "to_grid_crs",
]
