"""Match labels to the scenes they describe, by date.

Dated labels (a front traced on one day) take the nearest scene within a tolerance; static labels
(canopy polygons, land cover zones) go with every scene and are matched by :func:`match_static_labels`.

Time rules: naive datetimes are UTC, aware ones are converted to UTC. A label given as a ``date`` is a
whole UTC day: its distance to a scene is the number of calendar days between the label day and the
scene's UTC day (so with a tolerance of 0 it matches any scene of that day). A label given as a
``datetime`` is compared with the exact scene time. Ties go to the earlier scene, then to the lower
scene index. Several labels may share one scene.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Final

from ml4earth_stac.errors import LabelError

NO_SCENES_REASON: Final = "no scenes to match"
_DAY: Final = timedelta(days=1)


@dataclass(frozen=True)
class MatchResult:
    """Labels matched to scenes.

    Attributes:
        matched: label index -> scene index, for every label that found a scene.
        unused: (label index, reason) for every label that did not, in label order.
    """

    matched: dict[int, int] = field(default_factory=dict)
    unused: list[tuple[int, str]] = field(default_factory=list)

    @property
    def pairs(self) -> list[tuple[int, int]]:
        """(label index, scene index) pairs, sorted by label."""
        return sorted(self.matched.items())


@dataclass(frozen=True)
class StaticMatchResult:
    """Static labels matched to every scene.

    Attributes:
        pairs: every (label index, scene index) pair, label-major.
        unused: (label index, reason) for every label, when there is no scene at all.
    """

    pairs: list[tuple[int, int]] = field(default_factory=list)
    unused: list[tuple[int, str]] = field(default_factory=list)


def match_labels_to_scenes(
    label_dates: Sequence[datetime | date], scene_times: Sequence[datetime], tolerance: timedelta
) -> MatchResult:
    """Give each dated label the nearest scene within ``tolerance`` (see the module docstring for the rules).

    Args:
        label_dates: the date or time of each label.
        scene_times: the acquisition time of each scene (any order).
        tolerance: the largest label-scene distance still matched (inclusive).

    Returns:
        The matches, and the unused labels with a reason such as
        ``"no scene within ±3 days (nearest: 2020-07-10T10:30:00Z, 9 days away)"``.

    Raises:
        LabelError: a negative tolerance, or a label or scene time that is not a date/datetime (the index is
            named; static labels belong in :func:`match_static_labels`).
    """
    if tolerance < timedelta(0):
        raise LabelError(f"match tolerance must not be negative, got {tolerance}")
    scenes = sorted((_utc(t, f"scene time {i}"), i) for i, t in enumerate(scene_times))
    times = [t for t, _ in scenes]
    days = [t.date() for t in times]
    matched: dict[int, int] = {}
    unused: list[tuple[int, str]] = []
    for label_index, label in enumerate(label_dates):
        if not scenes:
            unused.append((label_index, NO_SCENES_REASON))
            continue
        position, distance = _nearest(label, label_index, times, days)
        if distance <= tolerance:
            matched[label_index] = scenes[position][1]
        else:
            unused.append((label_index, _too_far(tolerance, times[position], distance)))
    return MatchResult(matched, unused)


def match_static_labels(label_count: int, scene_times: Sequence[datetime]) -> StaticMatchResult:
    """Pair every static (undated) label with every scene.

    Args:
        label_count: the number of labels.
        scene_times: the acquisition time of each scene; only their number matters.

    Raises:
        LabelError: ``label_count`` is negative.
    """
    if label_count < 0:
        raise LabelError(f"label count must not be negative, got {label_count}")
    if not scene_times:
        return StaticMatchResult([], [(i, NO_SCENES_REASON) for i in range(label_count)])
    return StaticMatchResult([(i, j) for i in range(label_count) for j in range(len(scene_times))], [])


def _nearest(
    label: datetime | date, label_index: int, times: list[datetime], days: list[date]
) -> tuple[int, timedelta]:
    """Position (in the sorted scenes) of the nearest scene and its distance; ties go to the earlier one."""
    if isinstance(label, datetime):
        keys: list[datetime] | list[date] = times
        key: datetime | date = _utc(label, f"label {label_index}")
    elif isinstance(label, date):
        keys, key = days, label
    else:
        raise LabelError(
            f"label {label_index} has no date ({label!r}); give every label a date/datetime, "
            "or use match_static_labels for static labels"
        )
    after = bisect.bisect_left(keys, key)  # the first scene at or after the label
    candidates = [after] if after < len(keys) else []
    if after > 0:  # the first scene of the latest key before the label (equal keys: the earlier scene)
        candidates.insert(0, bisect.bisect_left(keys, keys[after - 1]))
    distances = [abs(keys[p] - key) for p in candidates]
    best = min(range(len(candidates)), key=lambda k: (distances[k], candidates[k]))
    return candidates[best], distances[best]


def _utc(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise LabelError(f"{what} is {value!r}, not a datetime; parse it (e.g. datetime.fromisoformat)")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _too_far(tolerance: timedelta, nearest: datetime, distance: timedelta) -> str:
    when = nearest.strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"no scene within ±{_span(tolerance)} (nearest: {when}, {_span(distance)} away)"


def _span(delta: timedelta) -> str:
    if delta % _DAY == timedelta(0):
        days = delta // _DAY
        return f"{days} day" if days == 1 else f"{days} days"
    return str(delta)
