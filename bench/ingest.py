"""Benchmark: ingest N scenes of each sensor from the loopback sample archive, against a floor measured in
the same run.

Prints two figures per sensor (Sentinel-2, Landsat, Sentinel-1 RTC, ASTER L1T):
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
from typing import Any

import numpy as np
import rasterio
import rasterio.windows
import yaml
import zarr
from rasterio.enums import Resampling

from ml4earth_stac.archive import ArchiveServer, ArchiveSpec, build_sample_archive, load_manifest
from ml4earth_stac.config import RunSettings, load_recipe
from ml4earth_stac.grid import aoi_grid
from ml4earth_stac.pipeline import run_benchmark
from ml4earth_stac.sensors import aster
from ml4earth_stac.sensors.adapters import adapter_for
from ml4earth_stac.store.cube import COMPRESSOR

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".bench"
RECIPE = ROOT / "catalog" / "svalbard-calving-fronts.yaml"
SENSORS = ("sentinel-2", "landsat", "sentinel-1", "aster")


def archive_items(archive: Path, collection: str) -> list[dict]:
    """The archive's items of one collection, oldest first."""
    manifest = load_manifest(archive)
    ids = (
        manifest.item_ids
        if collection == manifest.collection_id
        else [r.item_id for r in manifest.items_of(collection)]
    )
    items = [json.loads(manifest.item_path(i).read_text()) for i in ids]
    return sorted(items, key=lambda item: item["properties"]["datetime"])


def bench_recipe(archive: Path, sensor: str, n_scenes: int) -> Path:
    """The Svalbard recipe with only one sensor, limited to its first ``n_scenes`` dates, no quality drops."""
    raw = yaml.safe_load(RECIPE.read_text())
    raw["sources"] = [source for source in raw["sources"] if source["sensor"] == sensor]
    for part in ("labels", "chips", "splits"):  # ingest only: chips are measured by bench/loader.py
        raw.pop(part, None)
    items = archive_items(archive, raw["sources"][0]["collection"])
    last = items[n_scenes - 1]["properties"]["datetime"][:10]
    raw["time_range"] = {"start": items[0]["properties"]["datetime"][:10], "end": last}
    raw["sources"][0]["max_cloud_cover"] = 100
    raw["quality"] = {"min_valid_fraction": 0.0, "max_cloud_fraction": 1.0}
    path = WORK / f"recipe-{sensor}-{n_scenes}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM). Not ru_maxrss: Linux carries that over from the
    parent across fork+exec, so a child of a big parent would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_pipeline_child(recipe: Path, api: str, threads: int) -> None:
    """Child process: run the pipeline once and print its wall time and peak RSS as JSON."""
    out = WORK / f"out-{recipe.stem}"
    start = time.perf_counter()
    report = run_benchmark(load_recipe(recipe), RunSettings(output_dir=out, stac_api=api, threads=threads))
    seconds = time.perf_counter() - start
    rss_mb = peak_rss_mb()
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
    source = recipe.sources[0]
    adapter = adapter_for(source.sensor)
    grid = aoi_grid(recipe.aois[0].geometry, recipe.grid.crs, recipe.grid.resolution)
    end = recipe.time_range.end.isoformat()
    items = [i for i in archive_items(archive, source.collection) if i["properties"]["datetime"][:10] <= end]
    if source.sensor == "aster":  # one virtual asset per band of the multi-band COGs, read by band index
        items = [aster.split_multiband_item(item) for item in items]
    bands = [adapter.asset_key(b, source.provider) for b in source.bands]
    mask_key = adapter.mask_asset_key(source.provider)
    keys = bands if mask_key in bands else [*bands, mask_key]
    store = WORK / "floor.zarr"
    subprocess.run(["rm", "-rf", str(store)], check=True)
    start = time.perf_counter()
    arrays = _floor_arrays(store, len(items), len(bands), grid.shape, recipe.grid, adapter.mask_dtype)

    def read_write(job: tuple[int, int]) -> None:
        t, b = job
        asset = items[t]["assets"][keys[b]]
        href = f"{files_url}/{asset['href']}"
        is_mask = b >= len(bands)
        with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"), rasterio.open(href) as src:
            window = rasterio.windows.from_bounds(*grid.bounds, transform=src.transform)
            data = src.read(
                asset.get(aster.BAND_INDEX_FIELD, 1),
                window=window,
                out_shape=grid.shape,
                boundless=True,
                fill_value=0,
                resampling=Resampling.nearest if is_mask else Resampling.bilinear,
            )
        if is_mask:
            arrays["mask"][t] = data
        elif data.dtype.kind == "f":  # SAR: linear power to dB
            arrays["data"][t, b] = (10 * np.log10(np.maximum(data, 1e-3))).astype("float32")
        else:
            arrays["data"][t, b] = np.where(data == 0, np.nan, data * 1e-4 - 0.1).astype("float32")

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(read_write, [(t, b) for t in range(len(items)) for b in range(len(keys))]))
    return time.perf_counter() - start


def _floor_arrays(
    store: Path, n_times: int, n_bands: int, shape: tuple[int, int], grid: Any, mask_dtype: str
) -> dict[str, zarr.Array]:
    chunk, shard = grid.chunk_px, grid.shard_px
    root = zarr.open_group(str(store), mode="w")
    common = {"compressors": (COMPRESSOR,)}
    return {
        "data": root.create_array(
            "data",
            shape=(n_times, n_bands, *shape),
            dtype="float32",
            chunks=(1, 1, chunk, chunk),
            shards=(1, 1, shard, shard),
            fill_value=np.nan,
            **common,
        ),
        "mask": root.create_array(
            "mask",
            shape=(n_times, *shape),
            dtype=mask_dtype,
            chunks=(1, chunk, chunk),
            shards=(1, shard, shard),
            fill_value=0,
            **common,
        ),
    }


def _rounded(stages: dict[str, float]) -> str:
    return json.dumps({stage: round(seconds, 2) for stage, seconds in stages.items()})


def bench_sensor(sensor: str, archive: Path, server: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Ratios of one sensor: pipeline vs floor at N scenes, peak RSS at 4 vs N scenes (medians of repeats)."""
    small, large = bench_recipe(archive, sensor, 4), bench_recipe(archive, sensor, args.scenes)
    floors, smalls, larges = [], [], []
    for _ in range(args.repeats):  # interleaved, so drifts of the machine hit both sides alike
        floors.append(floor_in_fresh_process(large, server.files_url, args.threads))
        smalls.append(pipeline_in_fresh_process(small, server.stac_api_url, args.threads))
        larges.append(pipeline_in_fresh_process(large, server.stac_api_url, args.threads))
    median_run = sorted(larges, key=lambda r: r["seconds"])[len(larges) // 2]
    return {
        "sensor": sensor,
        "scenes": median_run["scenes"],
        "pipeline_s": median_run["seconds"],
        "floor_s": statistics.median(floors),
        "stages": median_run["stages"],
        "rss_small_mb": statistics.median(r["rss_mb"] for r in smalls),
        "rss_large_mb": statistics.median(r["rss_mb"] for r in larges),
        "runs": [round(r["seconds"], 2) for r in larges],
        "floors": [round(f, 2) for f in floors],
    }


def print_result(result: dict[str, Any], args: argparse.Namespace) -> None:
    ratio = result["pipeline_s"] / result["floor_s"]
    rss_ratio = result["rss_large_mb"] / result["rss_small_mb"]
    print(
        f"== {result['sensor']}: {result['scenes']} scenes, {args.threads} threads, {args.size_px} px scenes"
    )
    print(f"   runs {result['runs']} s, floor {result['floors']} s (medians of {args.repeats})")
    print(f"   pipeline {result['pipeline_s']:.2f} s (stages {_rounded(result['stages'])})")
    print(f"   floor    {result['floor_s']:.2f} s (raw rasterio window reads + direct zarr write)")
    print(f"   RATIO pipeline/floor = {ratio:.2f}   (target <= 1.5)")
    small_mb, large_mb = result["rss_small_mb"], result["rss_large_mb"]
    print(f"   peak RSS: 4 scenes {small_mb:.0f} MB, {args.scenes} scenes {large_mb:.0f} MB")
    print(f"   RATIO RSS({args.scenes})/RSS(4) = {rss_ratio:.2f}   (target <= 1.3)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenes", type=int, default=16)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--size-px", type=int, default=2400)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each timing; medians are reported")
    parser.add_argument("--sensors", default=",".join(SENSORS), help="comma-separated sensors to measure")
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
    spec = ArchiveSpec(n_dates=args.scenes, seed=7, scene_size_px=args.size_px, sensors=SENSORS)
    build_sample_archive(archive, spec)
    with ArchiveServer(archive) as server:
        results = [bench_sensor(sensor, archive, server, args) for sensor in args.sensors.split(",")]
    for result in results:
        print_result(result, args)


if __name__ == "__main__":
    main()
