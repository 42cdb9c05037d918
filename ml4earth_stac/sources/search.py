"""Search a STAC API for the scenes of one AOI and time range.

Returns plain item dicts as the API served them (``items_as_dicts`` skips pystac's migration, which
would rewrite ``proj:epsg`` to ``proj:code``); provider quirks are handled in :mod:`.items`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import pystac_client
import pystac_client.exceptions
import requests

from ml4earth_stac.errors import SourceError

QUERY_CONFORMANCE: Final = "https://api.stacspec.org/v1.0.0-rc.2/item-search#query"
DEFAULT_MAX_ITEMS: Final = 5000


@dataclass(frozen=True)
class SearchRequest:
    """One STAC API item search.

    Attributes:
        api_url: root of the STAC API.
        collection: collection id, e.g. ``sentinel-2-l2a``.
        intersects: GeoJSON geometry (WGS84) the scenes must intersect.
        datetime: STAC datetime interval, e.g. ``2016-01-01T00:00:00Z/2024-12-31T23:59:59Z``.
        max_cloud_cover: scenes with a larger ``eo:cloud_cover`` (%) are dropped.
    """

    api_url: str
    collection: str
    intersects: dict[str, Any]
    datetime: str
    max_cloud_cover: float = 100.0
    max_items: int = DEFAULT_MAX_ITEMS


@dataclass(frozen=True)
class SearchResult:
    """Items found, with the ones rejected by the scene-level cloud filter kept apart (with reasons)."""

    items: tuple[dict[str, Any], ...]
    too_cloudy: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def found(self) -> int:
        """Number of items the API returned."""
        return len(self.items) + len(self.too_cloudy)


def search_items(request: SearchRequest) -> SearchResult:
    """Run one item search and apply the cloud-cover filter.

    The filter is sent as a ``query`` where the API conforms to it, and always applied again on the
    client, so that APIs without the query extension give the same result.

    Raises:
        SourceError: the API cannot be reached, answers an error, or does not know the collection.
    """
    try:
        client = pystac_client.Client.open(request.api_url)
        query = None
        if client.conforms_to(pystac_client.ConformanceClasses.QUERY) and request.max_cloud_cover < 100:
            query = {"eo:cloud_cover": {"lte": request.max_cloud_cover}}
        search = client.search(
            collections=[request.collection],
            intersects=request.intersects,
            datetime=request.datetime,
            query=query,
            max_items=request.max_items,
        )
        items = list(search.items_as_dicts())
    except (pystac_client.exceptions.APIError, requests.RequestException, OSError) as exc:
        raise SourceError(
            f"STAC search of collection {request.collection!r} at {request.api_url} failed: {exc}. "
            "Check the API URL (run settings --stac-api or the recipe's source.api) and the collection id."
        ) from exc
    return _filter_cloudy(sorted(items, key=_datetime_of), request.max_cloud_cover)


def _datetime_of(item: dict[str, Any]) -> str:
    properties = item.get("properties", {})
    return str(properties.get("datetime") or properties.get("start_datetime") or "")


def _filter_cloudy(items: list[dict[str, Any]], max_cloud_cover: float) -> SearchResult:
    kept: list[dict[str, Any]] = []
    rejected: list[tuple[str, str]] = []
    for item in items:
        cover = item.get("properties", {}).get("eo:cloud_cover")
        if cover is not None and float(cover) > max_cloud_cover:
            rejected.append((item["id"], f"eo:cloud_cover {float(cover):.1f}% > limit {max_cloud_cover:g}%"))
        else:
            kept.append(item)
    return SearchResult(tuple(kept), tuple(rejected))
