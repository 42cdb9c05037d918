"""Benchmark: batch inference of a published baseline against bare onnxruntime, and its peak RSS.

Setup (under .bench/inference/, reused when present; --rebuild redoes it): a Sentinel-2 sample archive of
N dates, served on 127.0.0.1, the Svalbard recipe run on it twice (every date with labels -> cubes + chips,
and its first 2 dates -> cubes only; the quality gate is open so that the cubes hold exactly N and 2 dates),
and the classical baseline (HistGradientBoosting, ONNX) trained on the N-date chips. The same model serves
both inference runs.

Prints, measured in one run (a fresh process per measurement, repeats interleaved, medians):
  * throughput: valid pixels/s of the pipeline, ``predict_date`` over every date of the N-date cube (zarr
    read + features + onnxruntime, 512 px tiles with a halo as Dask tasks on the threaded scheduler),
    against bare onnxruntime, ``session.run`` of the same session on features of the same pixels computed
    beforehand (untimed), in batches of DEFAULT_BATCH_PIXELS: the floor. Both sides run in the same fresh
    process, alternating date by date (a shared 2-core machine drifted too much between processes), and
    must count the same pixels. RATIO pipeline/bare throughput. Target: >= 0.8.
  * peak RSS (VmHWM) of ``infer_benchmark`` (calving-front product, every date) on the N-date and on the
    2-date cube. RATIO RSS(N)/RSS(2). Target: <= 1.2 (memory must not grow with the number of dates).

Usage: python bench/inference.py [--dates 8] [--size-px 2400] [--repeats 3] [--rebuild]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Final

import numpy as np
import xarray as xr
import yaml
from ingest import peak_rss_mb  # bench/ is on sys.path when this script runs

from ml4earth_stac.archive import ArchiveManifest, ArchiveServer, ArchiveSpec, build_sample_archive
from ml4earth_stac.config import Recipe, RunSettings, load_recipe
from ml4earth_stac.inference import batch
from ml4earth_stac.inference.batch import TILE_PX, infer_benchmark, predict_date
from ml4earth_stac.inference.runtime import DEFAULT_BATCH_PIXELS, OnnxPixelModel
from ml4earth_stac.inference.train import train_benchmark
from ml4earth_stac.pipeline import run_benchmark

ROOT: Final = Path(__file__).resolve().parents[1]
WORK: Final = ROOT / ".bench" / "inference"
RECIPE: Final = ROOT / "catalog" / "svalbard-calving-fronts.yaml"
SENSOR: Final = "sentinel-2"
VARIABLE: Final = "reflectance"
SMALL_DATES: Final = 2
SEED: Final = 7
SETUP_FILE: Final = "setup.json"
# Smaller scenes get smaller chips and split blocks (as the tests do), or a split gets no chips
FULL_SCENE_PX: Final = 2400
SMALL_SCENE_CHIPS: Final = {"chips": {"size_px": 48}, "splits": {"block_m": 2000.0, "buffer_m": 100.0}}


def bench_recipe(manifest: ArchiveManifest, n_dates: int, with_labels: bool) -> Recipe:
    """The Svalbard recipe on the archive's AOIs, limited to its first ``n_dates`` dates, no quality drops."""
    raw = load_recipe(RECIPE).model_dump(mode="json")
    if not with_labels:  # cubes only: inference needs nothing else
        for part in ("labels", "chips", "splits"):
            raw[part] = None
    elif manifest.spec.scene_size_px < FULL_SCENE_PX:
        for part, values in SMALL_SCENE_CHIPS.items():
            raw[part] |= values
    raw["aois"] = [{"name": g.name, "geometry": g.aoi_geometry_wgs84} for g in manifest.glaciers]
    raw["sources"] = [s for s in raw["sources"] if s["collection"] in manifest.collection_ids]
    for source in raw["sources"]:
        source["provider"] = manifest.spec.provider
        source["max_cloud_cover"] = 100
    raw["quality"] = {"min_valid_fraction": 0.0, "max_cloud_fraction": 1.0}
    dates = [
        json.loads(manifest.item_path(i).read_text())["properties"]["datetime"] for i in manifest.item_ids
    ]
    dates = sorted(dates)[:n_dates]
    raw["time_range"] = {"start": dates[0][:10], "end": dates[-1][:10]}
    return Recipe.model_validate(raw)


def setup(args: argparse.Namespace) -> dict[str, Any]:
    """Archive, cubes of N and of 2 dates, and a trained baseline; reused from an earlier run if complete."""
    folder = WORK / f"dates{args.dates}-px{args.size_px}"
    saved = folder / SETUP_FILE
    if saved.is_file() and not args.rebuild:
        state = json.loads(saved.read_text())
        if all(Path(state[key]).exists() for key in ("onnx", "large_out", "small_out")):
            return state
    spec = ArchiveSpec(n_dates=args.dates, seed=SEED, scene_size_px=args.size_px, sensors=(SENSOR,))
    manifest = build_sample_archive(folder / "archive", spec)
    large, small = bench_recipe(manifest, args.dates, True), bench_recipe(manifest, SMALL_DATES, True)
    outputs = {"large": folder / "out-large", "small": folder / "out-small"}
    labels_root = str(manifest.root)
    with ArchiveServer(manifest.root) as server:
        for name, recipe in (("large", large), ("small", bench_recipe(manifest, SMALL_DATES, False))):
            shutil.rmtree(outputs[name], ignore_errors=True)
            settings = RunSettings(
                output_dir=outputs[name], stac_api=server.stac_api_url, labels_root=labels_root
            )
            run_benchmark(recipe, settings)
    model = train_benchmark(large, outputs["large"], labels_root=labels_root)[0]
    state = {"onnx": str(model.onnx), "model_id": model.model_id, "metrics": dict(model.metrics)}
    for name, recipe in (("large", large), ("small", small)):
        path = folder / f"recipe-{name}.yaml"
        path.write_text(yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False))
        state |= {f"{name}_recipe": str(path), f"{name}_out": str(outputs[name])}
    saved.write_text(json.dumps(state, indent=2, default=str))
    return state


def open_cube(recipe: Recipe, output_dir: Path) -> xr.Dataset:
    """The Sentinel-2 cube of the recipe's first AOI, exactly as ``infer_benchmark`` opens it."""
    return batch.open_cube(output_dir, recipe, recipe.aois[0].name, SENSOR)


def warm_up(model: OnnxPixelModel) -> None:
    """One small untimed ``session.run`` (onnxruntime allocates its arenas on the first run)."""
    model.session.run(None, {model.input_name: np.zeros((1024, len(model.feature_names)), np.float32)})


def read_image(model: OnnxPixelModel, cube: xr.Dataset, t: int) -> np.ndarray:
    """One date of the cube, whole, in the model's band order."""
    positions = list(model.check_bands([str(b) for b in cube["band"].values]))
    return np.asarray(cube[VARIABLE].isel(time=t).values, np.float32)[positions]


def feature_batches(model: OnnxPixelModel, image: np.ndarray) -> list[np.ndarray]:
    """Features of the valid pixels of a whole image (no tiles), cut in ``session.run`` batches."""
    features = model.spec.compute(image)
    rows = np.ascontiguousarray(features[:, np.isfinite(features).all(axis=0)].T, dtype=np.float32)
    return [rows[i : i + DEFAULT_BATCH_PIXELS] for i in range(0, len(rows), DEFAULT_BATCH_PIXELS)]


def floor_inputs(model: OnnxPixelModel, cube: xr.Dataset) -> tuple[list[list[np.ndarray]], dict[str, float]]:
    """The floor's batches of every date, and the (untimed in the floor) seconds to read and to featurize."""
    batches, seconds = [], {"read_s": 0.0, "features_s": 0.0}
    for t in range(cube.sizes["time"]):
        start = time.perf_counter()
        image = read_image(model, cube, t)
        middle = time.perf_counter()
        batches.append(feature_batches(model, image))
        seconds["read_s"] += middle - start
        seconds["features_s"] += time.perf_counter() - middle
    return batches, seconds


def throughput_child(recipe: Recipe, output_dir: Path, onnx: Path) -> dict[str, Any]:
    """Pipeline and floor on every date, alternating date by date (which goes first alternates too).

    Pipeline: ``predict_date`` = cube read + features + onnxruntime in Dask tiles with a halo. Floor: the
    same session's ``run`` on features of the same valid pixels computed beforehand (untimed).
    """
    model, cube = OnnxPixelModel(onnx), open_cube(recipe, output_dir)
    batches, untimed = floor_inputs(model, cube)
    warm_up(model)
    seconds, pixels = {"pipeline": 0.0, "bare": 0.0}, {"pipeline": 0, "bare": 0}
    for t in range(cube.sizes["time"]):
        for side in ("pipeline", "bare") if t % 2 == 0 else ("bare", "pipeline"):
            start = time.perf_counter()
            if side == "bare":
                for batch in batches[t]:
                    model.session.run(None, {model.input_name: batch})
            else:
                probabilities = predict_date(cube, t, model, VARIABLE)
            seconds[side] += time.perf_counter() - start
        pixels["pipeline"] += int(np.isfinite(probabilities).all(axis=0).sum())
        pixels["bare"] += sum(len(batch) for batch in batches[t])
    shape = list(probabilities.shape[1:])
    return {"seconds": seconds, "pixels": pixels, "dates": len(batches), "shape": shape, **untimed}


def rss_child(recipe: Recipe, output_dir: Path, onnx: Path, model_id: str) -> dict[str, Any]:
    """The whole batch inference (calving-front product) over every date; its wall time and peak RSS."""
    start = time.perf_counter()
    run = infer_benchmark(recipe, output_dir, onnx, model_id)
    seconds = time.perf_counter() - start
    dates = sum(len(items) for items in run.scenes.values())
    return {"seconds": seconds, "rss_mb": peak_rss_mb(), "dates": dates, "fronts": len(run.fronts)}


def run_child(args: argparse.Namespace) -> None:
    """Child process: one measurement, printed as JSON on the last line."""
    state = json.loads(Path(args.state).read_text())
    size = args.child.split("-")[-1]  # throughput-large, rss-small, rss-large
    recipe, output_dir = load_recipe(Path(state[f"{size}_recipe"])), Path(state[f"{size}_out"])
    onnx = Path(state["onnx"])
    if args.child.startswith("throughput"):
        result = throughput_child(recipe, output_dir, onnx)
    else:
        result = rss_child(recipe, output_dir, onnx, state["model_id"])
    print(json.dumps(result))


def in_fresh_process(kind: str, state_file: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--state", str(state_file)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(state_file: Path, repeats: int) -> dict[str, list[dict[str, Any]]]:
    """Every measurement ``repeats`` times, interleaved, so drifts of the machine hit all sides alike."""
    kinds = ("throughput-large", "rss-small", "rss-large")
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for _ in range(repeats):
        for kind in kinds:
            runs[kind].append(in_fresh_process(kind, state_file))
    return runs


def print_throughput(state: dict[str, Any], runs: list[dict[str, Any]], args: argparse.Namespace) -> None:
    if any(r["pixels"]["pipeline"] != r["pixels"]["bare"] for r in runs):
        raise SystemExit(f"the pipeline and the floor ran on different pixels: {[r['pixels'] for r in runs]}")
    model, first = OnnxPixelModel(state["onnx"]), runs[0]
    pixels, (height, width) = first["pixels"]["bare"], first["shape"]
    seconds = {side: [r["seconds"][side] for r in runs] for side in ("pipeline", "bare")}
    rate = {side: pixels / statistics.median(values) for side, values in seconds.items()}
    ratios = [r["seconds"]["bare"] / r["seconds"]["pipeline"] for r in runs]
    print(f"== batch inference: {first['dates']} dates x {height} x {width} px, {SENSOR} ({args.size_px} px)")
    print(
        f"   model {state['model_id']}: {len(model.feature_names)} features, halo {model.spec.halo} px; "
        f"{os.cpu_count()} cores; medians of {args.repeats} fresh processes, each alternating date by date"
    )
    print(f"   pipeline runs {[round(s, 2) for s in seconds['pipeline']]} s, {rate['pipeline']:,.0f} px/s:")
    print(
        f"            predict_date over every date = zarr read + features + onnxruntime, {TILE_PX} px tiles"
        f" with a {model.spec.halo} px halo as Dask tasks (threaded scheduler)"
    )
    print(f"   bare     runs {[round(s, 2) for s in seconds['bare']]} s, {rate['bare']:,.0f} px/s:")
    read_s, features_s = (statistics.median(r[key] for r in runs) for key in ("read_s", "features_s"))
    print(
        f"            session.run only, same session, batches of {DEFAULT_BATCH_PIXELS:,} px, on features of"
        f" the same {pixels:,} valid px made beforehand\n            (untimed: whole-date cube reads"
        f" {read_s:.2f} s + features {features_s:.2f} s)"
    )
    print(
        f"   RATIO pipeline/bare throughput = {statistics.median(ratios):.2f} (per process "
        f"{[round(r, 2) for r in ratios]})   (target >= 0.8; the pipeline also reads the cube and computes"
        " the features, the floor does neither)"
    )


def print_rss(runs: dict[str, list[dict[str, Any]]]) -> None:
    small, large = runs["rss-small"], runs["rss-large"]
    small_mb, large_mb = (statistics.median(r["rss_mb"] for r in rs) for rs in (small, large))
    n_small, n_large = small[0]["dates"], large[0]["dates"]
    times = [[round(r["seconds"], 1) for r in rs] for rs in (small, large)]
    peaks = [[round(r["rss_mb"]) for r in rs] for rs in (small, large)]
    print(f"   infer_benchmark (fronts product): {n_small} dates {times[0]} s, {n_large} dates {times[1]} s")
    print(
        f"   peak RSS (VmHWM) of infer_benchmark: {n_small} dates {small_mb:.0f} MB, {n_large} dates"
        f" {large_mb:.0f} MB (runs {peaks[0]}, {peaks[1]})"
    )
    print(
        f"   RATIO RSS({n_large})/RSS({n_small}) = {large_mb / small_mb:.2f}   (target <= 1.2: memory must"
        " not grow with the number of dates)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dates", type=int, default=8, help="dates of the archive and of the large cube")
    parser.add_argument("--size-px", type=int, default=2400, help="10 m pixels per side of a scene")
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of each measurement; medians are reported"
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild the archive, cubes and model")
    parser.add_argument("--child")
    parser.add_argument("--state")
    args = parser.parse_args()
    if args.child:
        run_child(args)
        return
    if args.dates <= SMALL_DATES:
        raise SystemExit(f"--dates must be more than {SMALL_DATES}")
    state = setup(args)
    state_file = WORK / f"dates{args.dates}-px{args.size_px}" / SETUP_FILE
    runs = measure(state_file, args.repeats)
    print_throughput(state, runs["throughput-large"], args)
    print_rss(runs)


if __name__ == "__main__":
    main()
