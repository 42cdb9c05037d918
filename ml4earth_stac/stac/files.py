"""File facts for STAC's file extension: sizes, multihash checksums, and the store manifest."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Final

SHA2_256_MULTIHASH_PREFIX: Final = "1220"  # multihash code 0x12 (sha2-256), length 0x20
READ_BLOCK: Final = 1 << 20


def multihash_sha256(path: Path) -> str:
    """The ``file:checksum`` of a file: a hex multihash of its SHA-256."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(READ_BLOCK):
            digest.update(block)
    return SHA2_256_MULTIHASH_PREFIX + digest.hexdigest()


def tree_size(path: Path) -> int:
    """Total bytes of the files under a folder (or of one file)."""
    if path.is_file():
        return path.stat().st_size
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())


def write_store_manifest(store: Path, manifest: Path) -> int:
    """List every file of a Zarr store with its size and checksum, as JSON.

    The manifest's own ``file:checksum`` in STAC then vouches for every byte of the store.

    Returns:
        The total size in bytes of the store's files.
    """
    files = sorted(p for p in store.rglob("*") if p.is_file())
    entries = {
        os.path.relpath(p, store): {"file:size": p.stat().st_size, "file:checksum": multihash_sha256(p)}
        for p in files
    }
    total = sum(e["file:size"] for e in entries.values())
    manifest.write_text(json.dumps({"store": store.name, "total_size": total, "files": entries}, indent=1))
    return total
