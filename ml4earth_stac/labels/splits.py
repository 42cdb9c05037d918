"""Spatially disjoint train/val/test splits of ML chips (pure, seeded, no I/O).

Two methods, both reproducible from a seed alone (the permutation is a SHA-256 ranking of group keys, so it
does not change with the Python or NumPy version):

- ``block``: each AOI's plane is cut into square blocks of ``block_m`` aligned to the AOI's grid origin (the
  top-left corner of its chips). A chip belongs to the block holding its centre; whole blocks go to splits.
  Chips of different splits that come closer than ``buffer_m`` are then resolved by dropping, never moving,
  the chip of the lower-priority split (train before val before test): see :data:`DROP_ORDER`. Chips of
  different AOIs are never compared (AOIs may lie in different CRSs): merge AOIs that overlap on the ground.
- ``aoi``: whole AOIs go to splits. Chips of different AOIs never conflict (AOIs are different places,
  possibly in different CRSs), so nothing is dropped.

Groups (blocks or AOIs) are visited in seeded order and each goes to the split furthest below its target chip
count; the last groups are kept for splits that would otherwise stay empty. Fractions are therefore met as
closely as whole groups allow, before any buffer drops.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import numpy as np
import shapely

from ml4earth_stac.errors import LabelError
from ml4earth_stac.grid import Chip, GridSpec

SPLIT_NAMES: Final = ("train", "val", "test")
"""Split names, in the order used for tie-breaking and reporting."""
ML_AOI_SPLIT: Final = MappingProxyType({"train": "train", "val": "validate", "test": "test"})
"""Our split names -> the values of STAC ``ml-aoi:split``."""
METHODS: Final = ("block", "aoi")
DROP_ORDER: Final = ("train", "val", "test")
"""On a buffer conflict the chip whose split comes first here is dropped (evaluation chips are kept)."""
DROP_REASON_BUFFER: Final = "buffer"
FRACTION_TOLERANCE: Final = 1e-6

Bounds = tuple[float, float, float, float]


@dataclass(frozen=True)
class ChipFootprint:
    """Where a chip lies: its AOI and its (min_x, min_y, max_x, max_y) in that AOI's grid CRS."""

    aoi: str
    bounds: Bounds

    @classmethod
    def from_chip(cls, aoi: str, chip: Chip, grid: GridSpec) -> ChipFootprint:
        """The footprint of a :class:`~ml4earth_stac.grid.Chip` of an AOI's grid."""
        return cls(aoi, chip.bounds(grid))


@dataclass(frozen=True)
class SplitAssignment:
    """The split of every chip, plus everything needed to record and reproduce it.

    Attributes:
        splits: per input chip, in input order, its split name, or None where it was dropped.
        method: ``"block"`` or ``"aoi"``.
        seed: the seed of the group permutation.
        fractions: (split, fraction) for every name of :data:`SPLIT_NAMES`.
        block_m: block edge in CRS units (None for ``aoi``).
        buffer_m: minimum distance between chips of different splits (None for ``aoi``).
        groups: (group key, split) for every group, sorted by key: AOI names for ``aoi``, JSON
            ``[aoi, block_x, block_y]`` keys for ``block``.
    """

    splits: tuple[str | None, ...]
    method: str
    seed: int
    fractions: tuple[tuple[str, float], ...]
    block_m: float | None
    buffer_m: float | None
    groups: tuple[tuple[str, str], ...]

    @property
    def counts(self) -> dict[str, int]:
        """Kept chips per split (every split name, zeros included)."""
        return {name: self.splits.count(name) for name in SPLIT_NAMES}

    @property
    def dropped(self) -> dict[str, int]:
        """Dropped chips per reason (only ``"buffer"`` so far)."""
        return {DROP_REASON_BUFFER: self.splits.count(None)}

    def indices(self, split: str) -> list[int]:
        """Input positions of the chips of one split."""
        return [i for i, name in enumerate(self.splits) if name == split]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record for the run report and the STAC collection (``ml-aoi``)."""
        record: dict[str, Any] = {
            "method": self.method,
            "seed": self.seed,
            "fractions": dict(self.fractions),
            "block_m": self.block_m,
            "buffer_m": self.buffer_m,
            "counts": self.counts,
            "dropped": self.dropped,
        }
        if self.method == "aoi":
            record["aois"] = dict(self.groups)
        else:
            record["blocks"] = {name: sum(s == name for _, s in self.groups) for name in SPLIT_NAMES}
        return record


def validate_fractions(fractions: Mapping[str, float]) -> dict[str, float]:
    """Check split fractions and complete them with zeros.

    Args:
        fractions: split name -> fraction, names from :data:`SPLIT_NAMES` (missing ones count as 0).

    Returns:
        A fraction for every name of :data:`SPLIT_NAMES`, in that order.

    Raises:
        LabelError: an unknown name, a negative or non-finite fraction, or a sum other than 1.
    """
    unknown = sorted(set(fractions) - set(SPLIT_NAMES))
    if unknown:
        raise LabelError(f"unknown split names {unknown} in fractions; use only {list(SPLIT_NAMES)}")
    complete = {name: float(fractions.get(name, 0.0)) for name in SPLIT_NAMES}
    bad = {name: value for name, value in complete.items() if not (math.isfinite(value) and value >= 0)}
    if bad:
        raise LabelError(f"split fractions must be finite and non-negative, got {bad}")
    total = sum(complete.values())
    if abs(total - 1.0) > FRACTION_TOLERANCE:
        raise LabelError(f"split fractions {dict(fractions)} sum to {total}, not 1; rescale them")
    return complete


def assign_splits(
    chips: Sequence[ChipFootprint | tuple[str, Bounds]],
    *,
    method: str,
    fractions: Mapping[str, float],
    seed: int,
    block_m: float | None = None,
    buffer_m: float = 0.0,
) -> SplitAssignment:
    """Split chips by a recipe's method: :func:`split_by_blocks` or :func:`split_by_aoi`.

    ``block_m`` is required for ``block``; ``block_m`` and ``buffer_m`` are not used by ``aoi``.

    Raises:
        LabelError: an unknown method, a missing ``block_m``, or any error of the chosen method.
    """
    if method == "aoi":
        return split_by_aoi(chips, fractions, seed=seed)
    if method != "block":
        raise LabelError(f"unknown split method {method!r}; use one of {list(METHODS)}")
    if block_m is None:
        raise LabelError("split method 'block' needs block_m (block edge in metres); set it in the recipe")
    return split_by_blocks(chips, fractions, block_m=block_m, buffer_m=buffer_m, seed=seed)


def split_by_aoi(
    chips: Sequence[ChipFootprint | tuple[str, Bounds]], fractions: Mapping[str, float], *, seed: int
) -> SplitAssignment:
    """Send every AOI, with all its chips, to one split.

    Raises:
        LabelError: bad chips or fractions, or fewer AOIs than splits with a nonzero fraction.
    """
    footprints = _footprints(chips)
    complete = validate_fractions(fractions)
    sizes = Counter(footprint.aoi for footprint in footprints)
    active = [name for name in SPLIT_NAMES if complete[name] > 0]
    if len(sizes) < len(active):
        raise LabelError(
            f"split method 'aoi' needs at least one AOI per split with a nonzero fraction, but the "
            f"{len(sizes)} AOI(s) {sorted(sizes)} cannot fill {active} (fractions {complete}); add AOIs, set "
            "some fractions to 0, or use method 'block'"
        )
    groups = _allocate(sizes, complete, seed)
    splits = tuple(groups[footprint.aoi] for footprint in footprints)
    record = tuple(sorted(groups.items()))
    return SplitAssignment(splits, "aoi", seed, tuple(complete.items()), None, None, record)


def split_by_blocks(
    chips: Sequence[ChipFootprint | tuple[str, Bounds]],
    fractions: Mapping[str, float],
    *,
    block_m: float,
    buffer_m: float = 0.0,
    seed: int,
) -> SplitAssignment:
    """Send square blocks of each AOI to splits and drop chips closer than ``buffer_m`` to another split.

    After the split, for any two kept chips of one AOI in different splits, the gap between their bounds is
    at least ``buffer_m`` along x or along y (so their buffered bounds do not overlap and their distance is
    at least ``buffer_m``); chips touching along an edge are allowed when ``buffer_m`` is 0. Choose
    ``block_m`` several times the chip size plus buffer: roughly a band of chip size + buffer is lost along
    every boundary between blocks of different splits.

    Args:
        chips: chip footprints (or ``(aoi, bounds)`` pairs) in their AOI's grid CRS.
        fractions: split name -> fraction of chips, see :func:`validate_fractions`.
        block_m: block edge in CRS units.
        buffer_m: minimum gap between chips of different splits, in CRS units.
        seed: seed of the block permutation.

    Raises:
        LabelError: bad chips, fractions, block size or buffer; fewer blocks than splits with a nonzero
            fraction; or a split left empty by the buffer.
    """
    if not (math.isfinite(block_m) and block_m > 0 and math.isfinite(buffer_m) and buffer_m >= 0):
        raise LabelError(
            f"need block_m > 0 and buffer_m >= 0 (metres), got block_m={block_m}, buffer_m={buffer_m}"
        )
    block_m, buffer_m = float(block_m), float(buffer_m)
    footprints = _footprints(chips)
    complete = validate_fractions(fractions)
    keys = _block_keys(footprints, block_m)
    sizes = Counter(keys)
    active = [name for name in SPLIT_NAMES if complete[name] > 0]
    if len(sizes) < len(active):
        raise LabelError(
            f"only {len(sizes)} block(s) of block_m={block_m} hold chips, too few for the splits {active}; "
            "use a smaller block_m or more AOIs"
        )
    groups = _allocate(sizes, complete, seed)
    splits = _drop_conflicts(footprints, [groups[key] for key in keys], buffer_m)
    record = tuple(sorted(groups.items()))
    result = SplitAssignment(splits, "block", seed, tuple(complete.items()), block_m, buffer_m, record)
    emptied = [name for name in active if result.counts[name] == 0]
    if emptied:
        raise LabelError(
            f"split(s) {emptied} have no chips left after dropping {result.dropped[DROP_REASON_BUFFER]} "
            f"chip(s) within buffer_m={buffer_m} of another split; use a larger block_m (now {block_m}), "
            "a smaller buffer_m, or method 'aoi'"
        )
    return result


def _footprints(chips: Sequence[ChipFootprint | tuple[str, Bounds]]) -> list[ChipFootprint]:
    """Normalize and check the input chips."""
    if not chips:
        raise LabelError("there are no chips to split; check that the AOIs are at least one chip wide")
    return [_checked(index, chip) for index, chip in enumerate(chips)]


def _checked(index: int, chip: ChipFootprint | tuple[str, Bounds]) -> ChipFootprint:
    """One chip as a footprint with four finite float bounds, min < max."""
    try:
        aoi, raw = (chip.aoi, chip.bounds) if isinstance(chip, ChipFootprint) else chip
        bounds = tuple(float(value) for value in raw)
    except (TypeError, ValueError) as exc:
        raise LabelError(f"chip {index} is {chip!r}; expected (aoi, (min_x, min_y, max_x, max_y))") from exc
    finite = len(bounds) == 4 and all(map(math.isfinite, bounds))
    if not (finite and bounds[0] < bounds[2] and bounds[1] < bounds[3]):
        raise LabelError(
            f"chip {index} of AOI {aoi!r} has bounds {raw}; expected finite (min_x, min_y, max_x, max_y) "
            "with min < max"
        )
    return ChipFootprint(str(aoi), bounds)  # type: ignore[arg-type]


def _block_keys(footprints: list[ChipFootprint], block_m: float) -> list[str]:
    """The block of every chip: the one holding its centre, counted from its AOI's top-left chip corner."""
    origins: dict[str, tuple[float, float]] = {}
    for fp in footprints:
        x0, y0 = origins.get(fp.aoi, (math.inf, -math.inf))
        origins[fp.aoi] = (min(x0, fp.bounds[0]), max(y0, fp.bounds[3]))
    keys = []
    for fp in footprints:
        origin_x, origin_y = origins[fp.aoi]
        centre_x = (fp.bounds[0] + fp.bounds[2]) / 2
        centre_y = (fp.bounds[1] + fp.bounds[3]) / 2
        block = (math.floor((centre_x - origin_x) / block_m), math.floor((origin_y - centre_y) / block_m))
        keys.append(json.dumps([fp.aoi, *block]))
    return keys


def _allocate(sizes: Mapping[str, int], fractions: Mapping[str, float], seed: int) -> dict[str, str]:
    """Give each group (key -> chip count) a split, visiting groups in seeded order (see module doc)."""
    order = sorted(sizes, key=lambda key: hashlib.sha256(f"{seed}\x00{key}".encode()).digest())
    total = sum(sizes.values())
    active = [name for name in SPLIT_NAMES if fractions[name] > 0]
    assigned = dict.fromkeys(active, 0)
    groups = {}
    for position, key in enumerate(order):
        empty = [name for name in active if assigned[name] == 0]
        candidates = empty if len(order) - position <= len(empty) else active
        split = max(candidates, key=lambda name: fractions[name] * total - assigned[name])
        groups[key] = split
        assigned[split] += sizes[key]
    return groups


def _drop_conflicts(
    footprints: list[ChipFootprint], splits: list[str], buffer_m: float
) -> tuple[str | None, ...]:
    """Drop every chip closer than ``buffer_m`` to a kept chip of a higher-priority split of its AOI."""
    kept: list[str | None] = list(splits)
    by_aoi: dict[str, list[int]] = {}
    for index, fp in enumerate(footprints):
        by_aoi.setdefault(fp.aoi, []).append(index)
    for indices in by_aoi.values():
        boxes = np.array([footprints[i].bounds for i in indices], dtype=np.float64)
        ranks = np.array([DROP_ORDER.index(splits[i]) for i in indices])
        keep = _keep_mask(boxes, ranks, buffer_m)
        for local in np.flatnonzero(~keep):
            kept[indices[local]] = None
    return tuple(kept)


def _keep_mask(boxes: np.ndarray, ranks: np.ndarray, buffer_m: float) -> np.ndarray:
    """Which chips of one AOI survive, resolving conflicts from the highest priority down."""
    keep = np.ones(len(boxes), dtype=bool)
    if len(set(ranks.tolist())) < 2:
        return keep
    # The query is padded a little beyond buffer_m so that rounding can only add candidates; the exact test
    # on the candidate pairs below is what decides.
    pad = buffer_m * (1 + 1e-9) + 1e-9 * max(1.0, float(np.abs(boxes).max()))
    tree = shapely.STRtree(shapely.box(*boxes.T))
    near, other = tree.query(shapely.box(*(boxes + [-pad, -pad, pad, pad]).T), predicate="intersects")
    gap_x = np.maximum(boxes[other, 0] - boxes[near, 2], boxes[near, 0] - boxes[other, 2])
    gap_y = np.maximum(boxes[other, 1] - boxes[near, 3], boxes[near, 1] - boxes[other, 3])
    conflict = (gap_x < buffer_m) & (gap_y < buffer_m) & (ranks[near] < ranks[other])
    for rank in range(len(DROP_ORDER) - 2, -1, -1):
        losing = conflict & (ranks[near] == rank) & keep[other]
        keep[near[losing]] = False
    return keep
