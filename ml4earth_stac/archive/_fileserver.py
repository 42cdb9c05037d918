"""Static file server with HTTP Range support (starlette StaticFiles on uvicorn), run as a subprocess.

Usage: ``python -m ml4earth_stac.archive._fileserver ROOT HOST PORT``.

It runs in its own process on purpose: GDAL (rasterio.open over /vsicurl/) holds the GIL while it waits
for HTTP responses, so a file server thread inside the reading process deadlocks.
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles


def make_app(root: Path) -> Starlette:
    """A starlette app serving ``root`` (GET/HEAD, Range requests answered with 206)."""
    return Starlette(routes=[Mount("/", app=StaticFiles(directory=root))])


def main(argv: list[str]) -> None:
    """Serve ``argv = [ROOT, HOST, PORT]`` until terminated."""
    root, host, port = Path(argv[0]), argv[1], int(argv[2])
    uvicorn.run(make_app(root), host=host, port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main(sys.argv[1:])
