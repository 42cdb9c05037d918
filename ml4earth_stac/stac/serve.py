"""Serve a published catalog folder over HTTP on 127.0.0.1 (Range requests and CORS for browsers)."""

from __future__ import annotations

from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from ml4earth_stac.errors import StacError


def static_app(folder: Path) -> Starlette:
    """An ASGI app serving ``folder`` read-only, with CORS open for GET (stac-browser runs elsewhere)."""
    if not folder.is_dir():
        raise StacError(f"{folder} is not a folder; run `ml4earth demo` or `ml4earth run` first")
    return Starlette(
        routes=[Mount("/", app=StaticFiles(directory=folder))],
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
