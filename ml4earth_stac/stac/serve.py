"""Serve a published catalog folder over HTTP on 127.0.0.1 (Range requests and CORS for browsers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from ml4earth_stac.errors import StacError

CHUNK_BYTES: Final = 1 << 20  # Starlette's 64 KiB default caps one client at ~200 MB/s here; 1 MiB: ~780


class _LargeChunkStaticFiles(StaticFiles):
    """StaticFiles sending files in 1 MiB chunks (Zarr shards are MBs; Range requests still work)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        if hasattr(response, "chunk_size"):
            response.chunk_size = CHUNK_BYTES
        return response


def static_app(folder: Path) -> Starlette:
    """An ASGI app serving ``folder`` read-only, with CORS open for GET (stac-browser runs elsewhere)."""
    if not folder.is_dir():
        raise StacError(f"{folder} is not a folder; run `ml4earth demo` or `ml4earth run` first")
    return Starlette(
        routes=[Mount("/", app=_LargeChunkStaticFiles(directory=folder))],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=["*"],
                allow_methods=["GET", "HEAD"],
                expose_headers=["Content-Range", "Accept-Ranges", "Content-Length"],
            )
        ],
    )


def serve_folder(folder: Path, port: int = 8000) -> None:
    """Serve ``folder`` on http://127.0.0.1:<port>/ until interrupted."""
    uvicorn.run(static_app(folder), host="127.0.0.1", port=port, log_level="warning")
