"""Benchmark: one epoch of ChipDataset over loopback HTTP against the same epoch from local disk.

Writes N chips (default 512 x 6 bands x 256 x 256 px, reflectance-like values, 80/10/10 splits) into a
temporary chip store with ChipStoreWriter, then reads every split once with ChipDataset (normalize=True,
labels on), alternately from the local path and from a Starlette static server (the `ml4earth serve` app)
running in its own process on 127.0.0.1. Each epoch runs in a fresh process; local and HTTP epochs are
interleaved and medians of the repeats are reported.

Prints:
  * chips written per second (and MB/s of float32 pixels),
  * samples/s of an epoch, local and over HTTP,
  * RATIO http/local samples/s. Target: >= 0.5 (the server sends files in 1 MiB chunks; Starlette's
    64 KiB default gave 0.38-0.58 here).

Usage: python bench/loader.py [--chips 512] [--bands 6] [--px 256] [--shard 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from ml4earth_stac.store.chips import ChipSample, ChipStoreWriter
from ml4earth_stac.store.dataset import ChipDataset

SENSOR = "sentinel-2"
CLASSES = [{"value": 0, "name": "ocean"}, {"value": 1, "name": "glacier"}, {"value": 2, "name": "land"}]
FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}


def split_counts(n: int) -> dict[str, int]:
    """80/10/10 chips per split, summing to ``n``."""
    val = test = int(n * FRACTIONS["val"])
    return {"train": n - val - test, "val": val, "test": test}


def synthetic_chips(counts: dict[str, int], bands: int, px: int, seed: int = 0) -> Iterator[ChipSample]:
    """Reflectance-like chips: a smooth field per band plus noise, quantized to 1e-4, a few NaN holes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:px, 0:px] / px
    index = 0
    for split, n in counts.items():
        for _ in range(n):
            phase = rng.uniform(0, 6.28, (bands, 1, 1))
            field = 0.25 + 0.15 * np.sin(3 * xx + phase) * np.cos(2 * yy - phase)
            image = np.round(field + rng.normal(0, 0.01, (bands, px, px)), 4).astype("float32")
            image[:, : rng.integers(0, px // 8), :] = np.nan
            label = (field[0] > 0.25).astype("uint8") + (field[1] > 0.35).astype("uint8")
            row, col = divmod(index, 64)
            yield ChipSample(
                image, label, "kronebreen", datetime(2021, 7, 1) + timedelta(days=index % 90), split,
                row * px, col * px, (col * px * 10.0, -(row + 1) * px * 10.0, (col + 1) * px * 10.0,
                -row * px * 10.0), 32633, f"S2_{index:05d}",
            )  # fmt: skip
            index += 1


def write_store(path: Path, args: argparse.Namespace) -> float:
    """Write the chips; returns the seconds it took (chip generation excluded)."""
    counts = split_counts(args.chips)
    chips = list(synthetic_chips(counts, args.bands, args.px))  # generated first: time the writer only
    stats = {"mean": [0.25] * args.bands, "std": [0.1] * args.bands}
    start = time.perf_counter()
    bands = [f"B{i}" for i in range(args.bands)]
    writer = ChipStoreWriter(path, SENSOR, bands, args.px, CLASSES, counts, shard_samples=args.shard)
    writer.write(chips)
    writer.close(stats)
    return time.perf_counter() - start


def epoch_child(url: str) -> None:
    """Child process: read every split once, print samples, seconds and a checksum as JSON."""
    start = time.perf_counter()
    samples, checksum = 0, 0.0
    for split in FRACTIONS:
        for sample in ChipDataset(url, split, SENSOR):
            samples += 1
            checksum += float(sample["image"][0, 0, 0]) + int(sample["label"][-1, -1])
    seconds = time.perf_counter() - start
    print(json.dumps({"samples": samples, "seconds": seconds, "checksum": checksum}))


def epoch_in_fresh_process(url: str) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--epoch-child", url], check=True, capture_output=True, text=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(folder: Path) -> tuple[subprocess.Popen, str]:
    """The `ml4earth serve` static app (Range + CORS) under uvicorn, in its own process."""
    port = free_port()
    code = (
        "import sys, uvicorn; from pathlib import Path; "
        "from ml4earth_stac.stac.serve import static_app; "
        f"uvicorn.run(static_app(Path(sys.argv[1])), host='127.0.0.1', port={port}, log_level='warning')"
    )
    process = subprocess.Popen([sys.executable, "-c", code, str(folder)])
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{base}/chips.zarr/zarr.json", timeout=1).close()
            return process, base
        except OSError:
            time.sleep(0.05)
    process.terminate()
    raise RuntimeError(f"the static server on port {port} did not start")


def store_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chips", type=int, default=512)
    parser.add_argument("--bands", type=int, default=6)
    parser.add_argument("--px", type=int, default=256)
    parser.add_argument("--shard", type=int, default=16, help="chips per shard")
    parser.add_argument("--repeats", type=int, default=3, help="epochs of each kind; medians are reported")
    parser.add_argument("--epoch-child")
    args = parser.parse_args()
    if args.epoch_child:
        epoch_child(args.epoch_child)
        return
    with tempfile.TemporaryDirectory(prefix="bench-loader-") as tmp:
        store = Path(tmp) / "chips.zarr"
        write_s = write_store(store, args)
        process, base = start_server(Path(tmp))
        try:
            runs: dict[str, list[dict]] = {"local": [], "http": []}
            for _ in range(args.repeats):  # interleaved, so drifts of the machine hit both sides alike
                runs["local"].append(epoch_in_fresh_process(str(store)))
                runs["http"].append(epoch_in_fresh_process(f"{base}/chips.zarr"))
        finally:
            process.terminate()
            process.wait(timeout=10)
        print_result(args, write_s, store_mb(store), runs)


def print_result(args: argparse.Namespace, write_s: float, mb: float, runs: dict[str, list[dict]]) -> None:
    raw_mb = args.chips * args.bands * args.px * args.px * 4 / 1e6
    if len({r["checksum"] for rs in runs.values() for r in rs}) != 1:
        raise SystemExit("HTTP and local epochs read different data")
    n = runs["local"][0]["samples"]
    rate = {name: n / statistics.median(r["seconds"] for r in rs) for name, rs in runs.items()}
    print(f"== chip store: {args.chips} chips x {args.bands} bands x {args.px}^2 px float32")
    print(f"   {raw_mb:.0f} MB raw pixels, {mb:.0f} MB on disk (Blosc zstd, shards of {args.shard} chips)")
    print(f"   write: {write_s:.2f} s = {args.chips / write_s:.0f} chips/s ({raw_mb / write_s:.0f} MB/s)")
    for name, rs in runs.items():
        seconds = [round(r["seconds"], 2) for r in rs]
        mb_s = rate[name] * raw_mb / args.chips
        print(f"   {name:9s} epoch {seconds} s: {rate[name]:.0f} samples/s ({mb_s:.0f} MB/s)")
    ratio = rate["http"] / rate["local"]
    print(f"   RATIO http/local = {ratio:.2f}   (target >= 0.5; the `ml4earth serve` app)")


if __name__ == "__main__":
    main()
