"""Matching label dates to scene times."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml4earth_stac.errors import LabelError
from ml4earth_stac.labels import MatchResult, match_labels_to_scenes, match_static_labels

SCENES = [
    datetime(2020, 7, 10, 10, 30, tzinfo=UTC),  # 0
    datetime(2020, 7, 1, 10, 30, tzinfo=UTC),  # 1
    datetime(2020, 7, 5, 10, 30, tzinfo=UTC),  # 2
]
DAYS3 = timedelta(days=3)


def test_each_label_takes_the_nearest_scene_within_tolerance() -> None:
    labels = [date(2020, 7, 2), date(2020, 7, 9), date(2020, 7, 5), date(2020, 8, 1)]
    result = match_labels_to_scenes(labels, SCENES, DAYS3)
    assert result.matched == {0: 1, 1: 0, 2: 2}
    assert result.unused == [(3, "no scene within ±3 days (nearest: 2020-07-10T10:30:00Z, 22 days away)")]
    assert result.pairs == [(0, 1), (1, 0), (2, 2)]


def test_tolerance_is_inclusive_and_counted_in_calendar_days_for_dates() -> None:
    result = match_labels_to_scenes([date(2020, 7, 13), date(2020, 7, 14)], SCENES, DAYS3)
    assert result.matched == {0: 0}
    assert result.unused[0][0] == 1
    assert "4 days away" in result.unused[0][1]
    same_day = match_labels_to_scenes([date(2020, 7, 5)], SCENES, timedelta(0))
    assert same_day.matched == {0: 2}


def test_ties_go_to_the_earlier_scene() -> None:
    # 2020-07-03 is 2 days from both the 07-01 and the 07-05 scene.
    assert match_labels_to_scenes([date(2020, 7, 3)], SCENES, DAYS3).matched == {0: 1}
    noon = datetime(2020, 7, 3, 10, 30, tzinfo=UTC)
    assert match_labels_to_scenes([noon], SCENES, DAYS3).matched == {0: 1}
    twins = [datetime(2020, 7, 5, 12, tzinfo=UTC), datetime(2020, 7, 5, 9, tzinfo=UTC)]
    assert match_labels_to_scenes([date(2020, 7, 5)], twins, timedelta(0)).matched == {0: 1}
    assert match_labels_to_scenes([date(2020, 7, 6)], twins, timedelta(days=1)).matched == {0: 1}


def test_datetime_labels_compare_exact_times_in_utc() -> None:
    late = datetime(2020, 7, 8, 12, 0, tzinfo=timezone(timedelta(hours=-10)))  # 2020-07-08T22:00Z
    result = match_labels_to_scenes([late], SCENES, timedelta(days=1))
    assert result.matched == {}
    assert "1 day, 12:30:00 away" in result.unused[0][1]  # to the 07-10 10:30 scene
    naive = datetime(2020, 7, 9, 22, 30)  # taken as UTC: 12 h before the 07-10 scene
    assert match_labels_to_scenes([naive], SCENES, timedelta(hours=12)).matched == {0: 0}


def test_no_scenes_leaves_every_label_unused() -> None:
    result = match_labels_to_scenes([date(2020, 7, 1), date(2020, 7, 2)], [], DAYS3)
    assert result == MatchResult({}, [(0, "no scenes to match"), (1, "no scenes to match")])


def test_undated_labels_point_to_static_matching() -> None:
    with pytest.raises(LabelError, match="label 1 has no date .*match_static_labels"):
        match_labels_to_scenes([date(2020, 7, 1), None], SCENES, DAYS3)  # type: ignore[list-item]
    with pytest.raises(LabelError, match="scene time 0 is '2020-07-01', not a datetime"):
        match_labels_to_scenes([date(2020, 7, 1)], ["2020-07-01"], DAYS3)  # type: ignore[list-item]
    with pytest.raises(LabelError, match="tolerance must not be negative"):
        match_labels_to_scenes([date(2020, 7, 1)], SCENES, timedelta(days=-1))


def test_static_labels_go_with_every_scene() -> None:
    result = match_static_labels(2, SCENES)
    assert result.pairs == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert result.unused == []
    assert match_static_labels(2, []).unused == [(0, "no scenes to match"), (1, "no scenes to match")]
    with pytest.raises(LabelError, match="label count must not be negative"):
        match_static_labels(-1, SCENES)


_day = st.integers(0, 60).map(lambda d: datetime(2020, 6, 1, tzinfo=UTC) + timedelta(hours=6 * d))


def _distance(scene: datetime, label: datetime | date) -> timedelta:
    if isinstance(label, datetime):
        return abs(scene - label)
    return abs(scene.date() - label)


@settings(max_examples=80, deadline=None)
@given(
    labels=st.lists(st.one_of(_day, _day.map(lambda t: t.date())), max_size=8),
    scenes=st.lists(_day, min_size=1, max_size=8),
    tolerance_h=st.integers(0, 120),
)
def test_matches_agree_with_brute_force(labels: list, scenes: list, tolerance_h: int) -> None:
    tolerance = timedelta(hours=tolerance_h)
    result = match_labels_to_scenes(labels, scenes, tolerance)
    for i, label in enumerate(labels):
        best = min(range(len(scenes)), key=lambda j: (_distance(scenes[j], label), scenes[j], j))
        if _distance(scenes[best], label) <= tolerance:
            assert result.matched.get(i) == best
        else:
            assert i in dict(result.unused)
    assert len(result.matched) + len(result.unused) == len(labels)
