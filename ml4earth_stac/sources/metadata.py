"""Read small metadata assets (e.g. ASTER's ECS ``.hdf.xml``) under the same rules as the rasters.

Some sensors keep what decoding needs outside the STAC item: ASTER L1T's per-band gains live only in the
scene's XML. Such a file is fetched once per scene, after the href policy allows it and the provider's
signer signs it, with a timeout and a size limit; any failure skips that scene only.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Final

from ml4earth_stac.errors import SceneSkipped
from ml4earth_stac.sources.items import HrefPolicy
from ml4earth_stac.sources.signing import Signer

TIMEOUT_S: Final = 30.0
MAX_BYTES: Final = 4 * 1024 * 1024  # ECS XML files are tens of kB


def text_reader(item_id: str, policy: HrefPolicy, signer: Signer, timeout_s: float = TIMEOUT_S):
    """A ``read_text(asset_key, href) -> str`` for the metadata assets of one item.

    Args:
        item_id: the item, named in errors.
        policy: which hrefs may be fetched.
        signer: the provider's signer (applied to a private copy of the href only).
        timeout_s: per-request timeout in seconds.

    Returns:
        A function that raises :class:`SceneSkipped` (``asset-unreadable``) when the asset cannot be read.
    """

    def read_text(asset_key: str, href: str) -> str:
        policy.check(item_id, asset_key, href)
        try:
            with urllib.request.urlopen(signer(href), timeout=timeout_s) as response:  # noqa: S310
                body = response.read(MAX_BYTES + 1)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            detail = f"{asset_key} ({href}) could not be read: {exc}"
            raise SceneSkipped(item_id, "asset-unreadable", detail) from exc
        if len(body) > MAX_BYTES:
            raise SceneSkipped(item_id, "asset-unreadable", f"{asset_key} ({href}) is over {MAX_BYTES} bytes")
        return body.decode("utf-8", errors="replace")

    return read_text
