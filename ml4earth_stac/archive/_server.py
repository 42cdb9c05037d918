"""Serve a sample archive on 127.0.0.1: COGs over HTTP (with Range) and a ``rustac serve`` STAC API.

Items are read from ``<root>/items/*.json`` (Sentinel-2) and ``<root>/<collection_id>/items/*.json`` (the
extra sensors' collections, e.g. ``landsat-c2-l2``) when the server starts, so a test may tamper with the
archive (truncate or delete a COG, drop projection fields) before entering the context manager. Every
collection is served by the same STAC API.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Final

from ml4earth_stac.archive._spec import COLLECTION_ID, COLLECTION_OF_SENSOR
from ml4earth_stac.errors import ArchiveError

STARTUP_TIMEOUT_S: Final = 30.0
SERVED_DIR: Final = ".served"
PR_SET_PDEATHSIG: Final = 1  # from <sys/prctl.h>
EXTRA_COLLECTION_IDS: Final = tuple(cid for cid in COLLECTION_OF_SENSOR.values() if cid != COLLECTION_ID)
KEPT_LINK_RELS: Final = ("license", "cite-as")


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _rustac_executable() -> str:
    """The ``rustac`` CLI next to the running Python, else on PATH."""
    local = Path(sys.executable).parent / "rustac"
    if local.is_file():
        return str(local)
    found = shutil.which("rustac")
    if not found:
        raise ArchiveError(
            f"rustac CLI not found beside {sys.executable} nor on PATH; install it with `pip install rustac`."
        )
    return found


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return 200 <= resp.status < 300
    except (urllib.error.URLError, OSError):
        return False


def absolute_item(item: dict[str, Any], files_url: str) -> dict[str, Any]:
    """A copy of ``item`` whose relative asset hrefs point at ``files_url`` (absolute hrefs are kept).

    Args:
        item: item dict as stored in ``<root>/items``.
        files_url: base URL of the file server, without trailing slash.

    Returns:
        The rewritten item (links other than ``license`` and ``cite-as`` are dropped; the STAC API adds
        its own).
    """
    out = json.loads(json.dumps(item))
    for asset in out.get("assets", {}).values():
        href = asset.get("href", "")
        if "://" not in href:
            asset["href"] = f"{files_url}/{href.lstrip('/')}"
    out["links"] = [link for link in out.get("links", []) if link.get("rel") in KEPT_LINK_RELS]
    return out


def write_served_files(root: Path, files_url: str) -> tuple[Path, Path]:
    """Write ``<root>/.served/collection.json`` and ``items.ndjson`` with absolute hrefs.

    Args:
        root: archive folder.
        files_url: base URL of the file server.

    Returns:
        (collection path, items path).

    Raises:
        ArchiveError: when the collection or an item is missing or not valid JSON.
    """
    served = root / SERVED_DIR
    served.mkdir(parents=True, exist_ok=True)
    paths = _write_served(root, served, files_url)
    if paths is None:
        raise ArchiveError(f"no items in {root / 'items'}; build the archive first (ml4earth archive build).")
    return paths


def write_extra_served_files(root: Path, files_url: str) -> list[Path]:
    """Write ``<root>/.served/<collection_id>/{collection.json,items.ndjson}`` of every extra collection.

    Args:
        root: archive folder.
        files_url: base URL of the file server.

    Returns:
        Collection and items paths in the order ``rustac serve`` must load them (empty for an archive with
        Sentinel-2 only).

    Raises:
        ArchiveError: when a collection or an item is not valid JSON.
    """
    out: list[Path] = []
    for collection_id in EXTRA_COLLECTION_IDS:
        if (root / collection_id / "collection.json").is_file():
            paths = _write_served(root / collection_id, root / SERVED_DIR / collection_id, files_url)
            out.extend(paths or ())
    return out


def _write_served(src: Path, dst: Path, files_url: str) -> tuple[Path, Path] | None:
    """Served copies of ``src/collection.json`` and ``src/items/*.json`` in ``dst`` (None: no items)."""
    paths = sorted((src / "items").glob("*.json"))
    lines = [json.dumps(absolute_item(_read_json(path), files_url)) for path in paths]
    if not lines:
        return None
    collection = _read_json(src / "collection.json")
    collection["links"] = [link for link in collection.get("links", []) if link.get("rel") == "license"]
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "collection.json").write_text(json.dumps(collection))
    (dst / "items.ndjson").write_text("\n".join(lines) + "\n")
    return dst / "collection.json", dst / "items.ndjson"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ArchiveError(f"{path} not found; rebuild the archive (ml4earth archive build).") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ArchiveError(f"{path} is not valid JSON ({exc}); fix or delete it and rebuild.") from exc


class ArchiveServer:
    """Context manager serving an archive folder on ``host``: files and a STAC API.

    Attributes:
        stac_api_url: STAC API root for ``pystac_client.Client.open`` (``http://127.0.0.1:PORT``).
        files_url: base URL of the file server; ``files_url/cogs/<id>/B04.tif`` is a COG (Range supported).
    """

    def __init__(self, root: Path, host: str = "127.0.0.1") -> None:
        """Prepare (but do not start) the servers.

        Args:
            root: archive folder (with ``collection.json`` and ``items/``).
            host: interface to bind; keep the default loopback address.
        """
        self.root = Path(root)
        self.host = host
        self.stac_api_url = ""
        self.files_url = ""
        self._served: list[Path] = []
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._log_dir = self.root / SERVED_DIR

    def __enter__(self) -> ArchiveServer:
        """Start both servers and wait until they answer; stops everything on failure."""
        if not (self.root / "collection.json").is_file():
            raise ArchiveError(f"{self.root} holds no collection.json; build the archive first.")
        try:
            self._start_files()
            self._served = [
                *write_served_files(self.root, self.files_url),
                *write_extra_served_files(self.root, self.files_url),
            ]
            self._start_stac()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop both servers (always)."""
        self.stop()

    def _spawn(self, name: str, cmd: list[str]) -> None:
        self._log_dir.mkdir(parents=True, exist_ok=True)
        package_parent = str(Path(__file__).resolve().parents[2])
        paths = [package_parent, os.environ.get("PYTHONPATH", "")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
        with (self._log_dir / f"{name}.log").open("wb") as log:
            self._procs[name] = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                preexec_fn=_die_with_parent,
            )

    def _start_files(self) -> None:
        port = _free_port(self.host)
        self.files_url = f"http://{self.host}:{port}"
        cmd = [
            sys.executable,
            "-m",
            "ml4earth_stac.archive._fileserver",
            str(self.root),
            self.host,
            str(port),
        ]
        self._spawn("files", cmd)
        self._wait("files", f"{self.files_url}/collection.json")

    def _start_stac(self) -> None:
        port = _free_port(self.host)
        self.stac_api_url = f"http://{self.host}:{port}"
        cmd = [
            _rustac_executable(),
            "serve",
            *(str(p) for p in self._served),
            "--addr",
            f"{self.host}:{port}",
        ]
        self._spawn("rustac", cmd)
        self._wait("rustac", f"{self.stac_api_url}/collections/{COLLECTION_ID}/items?limit=1")

    def _wait(self, name: str, url: str) -> None:
        """Poll ``url`` until it answers 2xx; fail early when the process ``name`` exits."""
        proc, log = self._procs[name], self._log_dir / f"{name}.log"
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:] if log.is_file() else "(no log)"
                raise ArchiveError(f"{name} server exited with code {proc.returncode}; see {log}:\n{tail}")
            if _http_ok(url):
                return
            time.sleep(0.1)
        raise ArchiveError(
            f"{name} server did not answer {url} within {STARTUP_TIMEOUT_S:.0f} s; check {log} "
            "and that nothing blocks 127.0.0.1."
        )

    def stop(self) -> None:
        """Terminate both server processes (kill after 5 s); safe to call twice."""
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self._procs.values():
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self._procs.clear()


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM a server when the process that started it dies (even by SIGKILL)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: servers are still stopped by stop() on a normal exit
        pass
