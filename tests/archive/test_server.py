"""The archive served on 127.0.0.1: rustac STAC API + static COG server with HTTP Range."""

from __future__ import annotations

import json
import shutil
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pystac_client
import pytest
import rasterio

from ml4earth_stac.archive import ArchiveManifest, ArchiveServer
from ml4earth_stac.errors import ArchiveError


@pytest.fixture(scope="module")
def server(small_archive: ArchiveManifest) -> Iterator[ArchiveServer]:
    with ArchiveServer(small_archive.root) as srv:
        yield srv


def _port_open(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as s:
        return s.connect_ex((host, int(port))) == 0


def _search(srv: ArchiveServer, **kwargs) -> list:
    client = pystac_client.Client.open(srv.stac_api_url)
    return list(client.search(collections=["sentinel-2-l2a"], **kwargs).items())


def test_search_returns_items_with_absolute_hrefs(
    server: ArchiveServer, small_archive: ArchiveManifest
) -> None:
    items = _search(server)
    assert sorted(i.id for i in items) == sorted(small_archive.item_ids)
    stored = json.loads(small_archive.item_path(items[0].id).read_text())
    served_props = dict(items[0].properties)
    # rustac re-serializes the datetime ("...:30Z" for "...:30.000000Z"); everything else is kept
    assert served_props.pop("datetime")[:19] == stored["properties"].pop("datetime")[:19]
    assert served_props == stored["properties"]
    assert set(items[0].assets) == set(stored["assets"])
    b04 = items[0].assets["B04"]
    assert b04.href == f"{server.files_url}/cogs/{items[0].id}/B04.tif"
    assert b04.extra_fields["proj:code"] == "EPSG:32633" and "proj:epsg" not in b04.extra_fields


def test_bbox_and_datetime_filters(server: ArchiveServer, small_archive: ArchiveManifest) -> None:
    ring = small_archive.aoi_geometry_wgs84["coordinates"][0]
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    assert len(_search(server, bbox=[min(lons), min(lats), max(lons), max(lats)])) == 3
    assert _search(server, bbox=[0.0, 0.0, 1.0, 1.0]) == []
    first = small_archive.scenes[0].datetime[:10]
    hits = _search(server, datetime=f"{first}/{first}T23:59:59Z")
    assert [i.id for i in hits] == [small_archive.item_ids[0]]


def test_rustac_does_not_support_query_or_filter(server: ArchiveServer) -> None:
    """Documents a rustac 0.9 limitation: cloud filters must be applied client-side.

    The memory backend advertises neither QUERY nor FILTER; a POST ``query`` or any ``filter`` silently
    returns no items (pystac-client only warns DoesNotConformTo).
    """
    with pytest.warns(Warning, match="QUERY"):
        assert _search(server, query={"eo:cloud_cover": {"lt": 100}}) == []
    with pytest.warns(Warning, match="FILTER"):
        assert _search(server, filter={"op": "<", "args": [{"property": "eo:cloud_cover"}, 100]}) == []


def test_cog_streams_over_http_with_range(server: ArchiveServer, small_archive: ArchiveManifest) -> None:
    url = f"{server.files_url}/cogs/{small_archive.item_ids[0]}/B04.tif"
    req = urllib.request.Request(url, headers={"Range": "bytes=0-15"})
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 206 and len(resp.read()) == 16
    with rasterio.open(url) as ds:
        assert ds.shape == (600, 600) and ds.read(1, window=((0, 64), (0, 64))).any()


def test_servers_stop_on_exit(small_archive: ArchiveManifest) -> None:
    with ArchiveServer(small_archive.root) as srv:
        urls = (srv.stac_api_url, srv.files_url)
        assert all(_port_open(u) for u in urls)
    assert not any(_port_open(u) for u in urls)


def test_tampered_archive_is_served_as_is(small_archive: ArchiveManifest, tmp_path: Path) -> None:
    root = tmp_path / "tampered"
    shutil.copytree(small_archive.root, root, ignore=shutil.ignore_patterns(".served"))
    victim = small_archive.item_ids[1]
    path = root / "items" / f"{victim}.json"
    item = json.loads(path.read_text())
    for asset in item["assets"].values():
        for key in ("proj:code", "proj:shape", "proj:transform", "proj:bbox"):
            asset.pop(key, None)
    item["properties"].pop("proj:code")
    path.write_text(json.dumps(item))
    (root / "cogs" / victim / "B03.tif").unlink()
    with ArchiveServer(root) as srv:
        got = {i.id: i for i in _search(srv)}
        assert "proj:code" not in got[victim].properties
        with urllib.request.urlopen(got[victim].assets["B04"].href) as resp:
            assert resp.status == 200
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(got[victim].assets["B03"].href)


def test_server_without_archive_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="build the archive"):
        with ArchiveServer(tmp_path):
            pass
