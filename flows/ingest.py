"""Prefect flow: ingest one benchmark recipe and publish it as STAC.

Thin wrappers only: every task calls one step of :mod:`ml4earth_stac.pipeline`. Runs in ephemeral
mode by default (no server needed); deploy it with ``prefect.yaml`` to schedule it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from ml4earth_stac import pipeline
from ml4earth_stac.config import Aoi, RunSettings, Source, load_recipe


@task(cache_policy=NO_CACHE)
def find_scenes(run: pipeline.Run, aoi: Aoi, source: Source) -> pipeline.AoiScenes:
    """Search the STAC API of one source for one AOI."""
    return pipeline.find_scenes(run, aoi, source)


@task(cache_policy=NO_CACHE)
def ingest_aoi(run: pipeline.Run, scenes: pipeline.AoiScenes) -> None:
    """Load, decode and append the scenes of one AOI to the cube (Dask does the array work)."""
    with pipeline.dask_scheduler(run.settings):
        pipeline.ingest_aoi(run, scenes)


@task(cache_policy=NO_CACHE)
def chip(run: pipeline.Run) -> None:
    """Cut the cubes into labelled chips with spatial splits (recipes with labels)."""
    pipeline.chip_benchmark(run)


@task(cache_policy=NO_CACHE)
def publish(run: pipeline.Run) -> dict[str, Any]:
    """Write STAC and swap the benchmark into place."""
    return pipeline.publish_run(run).to_dict()


@flow(name="ingest-benchmark", log_prints=True)
def ingest_benchmark(
    recipe_path: str,
    output_dir: str = "outputs",
    stac_api: str | None = None,
    dask_address: str | None = None,
    threads: int = 2,
    labels_root: str | None = None,
) -> dict[str, Any]:
    """Ingest a recipe (catalog/<benchmark>.yaml) into a Zarr cube and publish it as a STAC collection.

    Args:
        recipe_path: the recipe YAML.
        output_dir: where the static catalog and the stores are published.
        stac_api: a STAC API to use instead of the recipe's (e.g. the local sample archive).
        dask_address: ``tcp://host:port`` of a Dask scheduler; default: threads on this machine.
        threads: threads of the local Dask scheduler.
        labels_root: folder or URL that the recipe's relative label hrefs are resolved against.

    Returns:
        The run report as a dict.
    """
    recipe = load_recipe(recipe_path)
    settings = RunSettings(
        output_dir=Path(output_dir),
        stac_api=stac_api,
        dask_address=dask_address,
        threads=threads,
        labels_root=labels_root,
    )
    run = pipeline.start_run(recipe, settings)
    found = [find_scenes(run, aoi, source) for aoi in recipe.aois for source in recipe.sources]
    if pipeline.is_up_to_date(run):
        pipeline.finish_up_to_date(run)
    else:
        for scenes in found:
            ingest_aoi(run, scenes)
        chip(run)
        publish(run)
    run.report.print_summary()
    return run.report.to_dict()
