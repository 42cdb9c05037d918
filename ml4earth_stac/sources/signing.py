"""Read-time signing of asset hrefs (Planetary Computer SAS tokens).

Planetary Computer keeps its assets in Azure Blob Storage behind short-lived SAS tokens. Hrefs are signed
on the loader's private copy of an item, just before reading; the items kept for publishing are never
touched, so no token is ever written into published STAC (which would leak it and expire anyway).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ml4earth_stac.errors import SceneSkipped

Signer = Callable[[str], str]
"""Turns an asset href into one that can be read now (identity for public data)."""


def unsigned(href: str) -> str:
    """The identity signer: public hrefs (Earth Search COGs, the sample archive) need no token."""
    return href


def signer_for(provider: str) -> Signer:
    """The signer of a provider's assets.

    Args:
        provider: ``planetary-computer`` (SAS tokens from the ``planetary-computer`` package, which caches
            them and leaves non-blob hrefs unchanged) or ``earth-search`` (public, no signing).
    """
    if provider == "planetary-computer":
        import planetary_computer

        return planetary_computer.sign_url
    return unsigned


def sign_assets(item: dict[str, Any], signer: Signer) -> dict[str, Any]:
    """A copy of a prepared item with every asset href signed.

    Raises:
        SceneSkipped: a token could not be obtained (network or service error); the batch goes on.
    """
    signed = copy.deepcopy(item)
    for key, asset in signed.get("assets", {}).items():
        try:
            asset["href"] = signer(str(asset["href"]))
        except Exception as exc:  # noqa: BLE001 - token services fail in many ways; skip this scene only
            raise SceneSkipped(
                str(item.get("id")), "signing-failed", f"asset {key!r} could not be signed: {exc}"
            ) from exc
    return signed
