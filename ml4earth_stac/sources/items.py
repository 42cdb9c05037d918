"""Make search results safe and loadable: href policy, projection metadata, asset checks.

Every function here either returns a usable item or raises :class:`SceneSkipped`, whose reason ends up
in the run report; one bad scene never stops the batch.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlparse

from ml4earth_stac.errors import SceneSkipped

ALLOWED_SCHEMES: Final = ("http", "https")


@dataclass(frozen=True)
class HrefPolicy:
    """Which asset hrefs from remote metadata may be fetched.

    Attributes:
        schemes: allowed URL schemes (never ``file``: a remote catalog must not make us read local files).
        hosts: allowed host names, or None for any host.
    """

    schemes: tuple[str, ...] = ALLOWED_SCHEMES
    hosts: tuple[str, ...] | None = None

    def check(self, item_id: str, asset_key: str, href: str) -> None:
        """Raise SceneSkipped if ``href`` may not be fetched."""
        url = urlparse(href)
        if url.scheme not in self.schemes:
            raise SceneSkipped(
                item_id,
                "unsafe-href",
                f"asset {asset_key!r} href {href!r} uses scheme {url.scheme or 'none'!r}; "
                f"only {list(self.schemes)} are fetched from remote metadata",
            )
        if self.hosts is not None and url.hostname not in self.hosts:
            raise SceneSkipped(
                item_id,
                "unsafe-href",
                f"asset {asset_key!r} host {url.hostname!r} is not in the allowed hosts {list(self.hosts)}",
            )
        if ".." in url.path.split("/"):
            raise SceneSkipped(
                item_id, "unsafe-href", f"asset {asset_key!r} href {href!r} has '..' in its path"
            )


def epsg_of(item_id: str, *fields: Mapping[str, Any]) -> int:
    """The EPSG code from ``proj:code`` (STAC 1.1 / projection v2) or ``proj:epsg`` (projection v1).

    Args:
        item_id: for the error message.
        fields: property mappings to look in, most specific first (asset, then item properties).

    Raises:
        SceneSkipped: no usable projection metadata.
    """
    for mapping in fields:
        code = mapping.get("proj:code")
        if isinstance(code, str) and code.upper().startswith("EPSG:") and code[5:].isdigit():
            return int(code[5:])
        epsg = mapping.get("proj:epsg")
        if isinstance(epsg, int) and epsg > 0:
            return epsg
    raise SceneSkipped(
        item_id,
        "missing-projection",
        "no proj:code or proj:epsg on the item or its assets; its pixels cannot be placed on the grid. "
        "Fix the catalog or exclude the item",
    )


def prepare_item(
    item: dict[str, Any], asset_keys: Iterable[str], policy: HrefPolicy = HrefPolicy()
) -> dict[str, Any]:
    """Check one item and return a copy that stackstac can load.

    The copy carries ``proj:epsg`` beside ``proj:code`` on the item and on each needed asset (stackstac
    0.5.1 reads only ``proj:epsg``), and only the needed assets.

    Args:
        item: a STAC item dict as served by the API.
        asset_keys: the provider asset keys to load, e.g. ``["B03", "B04", "SCL"]``.
        policy: which hrefs may be fetched.

    Raises:
        SceneSkipped: a needed asset is missing, its href is not allowed, or projection metadata is absent.
    """
    item_id = str(item.get("id", "<no id>"))
    assets = item.get("assets", {})
    missing = [key for key in asset_keys if key not in assets]
    if missing:
        raise SceneSkipped(
            item_id,
            "missing-band",
            f"assets {missing} are absent (item has {sorted(assets)}); "
            "check source.bands and source.provider",
        )
    prepared = copy.deepcopy({k: v for k, v in item.items() if k != "assets"})
    prepared["assets"] = {key: copy.deepcopy(assets[key]) for key in asset_keys}
    properties = prepared.setdefault("properties", {})
    for key, asset in prepared["assets"].items():
        policy.check(item_id, key, str(asset.get("href", "")))
        asset["proj:epsg"] = epsg_of(item_id, asset, properties)
    properties["proj:epsg"] = epsg_of(item_id, properties, *prepared["assets"].values())
    return prepared
