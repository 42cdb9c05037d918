"""Benchmark: ingest N scenes from the loopback sample archive, against a floor measured in the same run.

Prints two figures:
  * ratio = pipeline time / floor time for the same N scenes, where the floor is raw rasterio window
    reads of the same assets onto the same grid plus a direct zarr write of the same arrays (same
    codec, same chunks and shards), on the same number of threads. Target: <= 1.5.
  * peak RSS of the pipeline at 4 and at 16 scenes (each in a fresh process). Target: RSS(16)/RSS(4) <= 1.3.

Usage: python bench/ingest.py [--scenes 16] [--threads 2] [--size-px 2400]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import rasterio
import rasterio.windows
import yaml
import zarr
from rasterio.enums import Resampling

from ml4earth_stac.archive import ArchiveServer, ArchiveSpec, build_sample_archive
from ml4earth_stac.config import RunSettings, load_recipe
from ml4earth_stac.grid import aoi_grid
from ml4earth_stac.pipeline import run_benchmark
from ml4earth_stac.sensors import sentinel2
from ml4earth_stac.store.cube import COMPRESSOR

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".bench"
RECIPE = ROOT / "catalog" / "svalbard-calving-fronts.yaml"


def archive_items(archive: Path) -> list[dict]:
    """The archive's items, oldest first."""
    items = [json.loads(p.read_text()) for p in (archive / "items").glob("*.json")]
    return sorted(items, key=lambda item: item["properties"]["datetime"])


def bench_recipe(archive: Path, n_scenes: int) -> Path:
    """The Svalbard recipe limited to the first ``n_scenes`` dates, with no quality drops."""
    items = archive_items(archive)
    last = items[n_scenes - 1]["properties"]["datetime"][:10]
    raw = yaml.safe_load(RECIPE.read_text())
    raw["time_range"] = {"start": items[0]["properties"]["datetime"][:10], "end": last}
    raw["sources"][0]["max_cloud_cover"] = 100
    raw["quality"] = {"min_valid_fraction": 0.0, "max_cloud_fraction": 1.0}
    path = WORK / f"recipe-{n_scenes}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def run_pipeline_child(recipe: Path, api: str, threads: int) -> None:
    """Child process: run the pipeline once and print its wall time and peak RSS as JSON."""
    out = WORK / f"out-{recipe.stem}"
    start = time.perf_counter()
    report = run_benchmark(load_recipe(recipe), RunSettings(output_dir=out, stac_api=api, threads=threads))
    seconds = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {"seconds": seconds, "rss_mb": rss_mb, "scenes": report.scenes_used, "stages": report.seconds}
        )
    )


def pipeline_in_fresh_process(recipe: Path, api: str, threads: int) -> dict:
    out = WORK / f"out-{recipe.stem}"
    subprocess.run(["rm", "-rf", str(out)], check=True)
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(recipe), "--api", api, "--threads", str(threads)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def floor_in_fresh_process(recipe: Path, files_url: str, threads: int) -> float:
    """The floor in a fresh process too, so both sides pay the same start-up costs."""
    result = subprocess.run(
        [
            sys.executable,
            __file__,
            "--floor-child",
            str(recipe),
            "--files",
            files_url,
            "--threads",
            str(threads),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(json.loads(result.stdout.strip().splitlines()[-1])["seconds"])


def floor(recipe_path: Path, files_url: str, archive: Path, threads: int) -> float:
    """Raw rasterio reads of the same assets onto the same grid + direct zarr writes, same threads."""
    recipe = load_recipe(recipe_path)
    grid = aoi_grid(recipe.aois[0].geometry, recipe.grid.crs, recipe.grid.resolution)
    items = archive_items(archive)
    items = [i for i in items if i["properties"]["datetime"][:10] <= recipe.time_range.end.isoformat()]
    source = recipe.sources[0]
    bands = [sentinel2.asset_key(b, source.provider) for b in (*source.bands, "SCL")]
    height, width = grid.shape
    chunk, shard = recipe.grid.chunk_px, recipe.grid.shard_px
    store = WORK / "floor.zarr"
    subprocess.run(["rm", "-rf", str(store)], check=True)
    start = time.perf_counter()
    root = zarr.open_group(str(store), mode="w")
    array = root.create_array(
        "reflectance",
        shape=(len(items), len(bands) - 1, height, width),
        dtype="float32",
        chunks=(1, 1, chunk, chunk),
        shards=(1, 1, shard, shard),
        compressors=(COMPRESSOR,),
        fill_value=np.nan,
    )
    scl = root.create_array(
        "scl",
        shape=(len(items), height, width),
        dtype="uint8",
        chunks=(1, chunk, chunk),
        shards=(1, shard, shard),
        compressors=(COMPRESSOR,),
        fill_value=0,
    )

    def read_write(job: tuple[int, int]) -> None:
        t, b = job
        href = f"{files_url}/{items[t]['assets'][bands[b]]['href']}"
        with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"), rasterio.open(href) as src:
            window = rasterio.windows.from_bounds(*grid.bounds, transform=src.transform)
            is_scl = b == len(bands) - 1
            data = src.read(
                1,
                window=window,
                out_shape=(height, width),
                boundless=True,
                fill_value=0,
                resampling=Resampling.nearest if is_scl else Resampling.bilinear,
            )
        if is_scl:
            scl[t] = data
        else:
            array[t, b] = np.where(data == 0, np.nan, data * 1e-4 - 0.1).astype("float32")

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(read_write, [(t, b) for t in range(len(items)) for b in range(len(bands))]))
    return time.perf_counter() - start


def _rounded(stages: dict[str, float]) -> str:
    return json.dumps({stage: round(seconds, 2) for stage, seconds in stages.items()})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenes", type=int, default=16)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--size-px", type=int, default=2400)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each timing; medians are reported")
    parser.add_argument("--child", type=Path)
    parser.add_argument("--floor-child", type=Path)
    parser.add_argument("--files")
    parser.add_argument("--api")
    args = parser.parse_args()
    if args.child:
        run_pipeline_child(args.child, args.api, args.threads)
        return
    if args.floor_child:
        seconds = floor(args.floor_child, args.files, WORK / "archive", args.threads)
        print(json.dumps({"seconds": seconds}))
        return
    WORK.mkdir(exist_ok=True)
    archive = WORK / "archive"
    build_sample_archive(archive, ArchiveSpec(n_dates=args.scenes, seed=7, scene_size_px=args.size_px))
    with ArchiveServer(archive) as server:
        small, large = bench_recipe(archive, 4), bench_recipe(archive, args.scenes)
        floors, smalls, larges = [], [], []
        for _ in range(args.repeats):  # interleaved, so drifts of the machine hit both sides alike
            floors.append(floor_in_fresh_process(large, server.files_url, args.threads))
            smalls.append(pipeline_in_fresh_process(small, server.stac_api_url, args.threads))
            larges.append(pipeline_in_fresh_process(large, server.stac_api_url, args.threads))
    floor_seconds = statistics.median(floors)
    at_large = sorted(larges, key=lambda r: r["seconds"])[len(larges) // 2]
    at_small = {"rss_mb": statistics.median(r["rss_mb"] for r in smalls)}
    at_large["rss_mb"] = statistics.median(r["rss_mb"] for r in larges)
    ratio = at_large["seconds"] / floor_seconds
    rss_ratio = at_large["rss_mb"] / at_small["rss_mb"]
    print(
        f"runs: {args.repeats} each, medians; pipeline {[round(r['seconds'], 2) for r in larges]} s, "
        f"floor {[round(f, 2) for f in floors]} s"
    )
    print(f"scenes: {at_large['scenes']}  threads: {args.threads}  grid px: {args.size_px}")
    print(f"pipeline {at_large['seconds']:.2f} s (stages {_rounded(at_large['stages'])})")
    print(f"floor    {floor_seconds:.2f} s (raw rasterio window reads + direct zarr write)")
    print(f"RATIO pipeline/floor = {ratio:.2f}   (target <= 1.5)")
    print(f"peak RSS: 4 scenes {at_small['rss_mb']:.0f} MB, {args.scenes} scenes {at_large['rss_mb']:.0f} MB")
    print(f"RATIO RSS({args.scenes})/RSS(4) = {rss_ratio:.2f}   (target <= 1.3)")


if __name__ == "__main__":
    main()
