"""The ingest pipeline as named steps: plan -> find scenes -> ingest each AOI -> publish.

Each step is a plain function; ``flows/`` wraps them as Prefect tasks and ``run_benchmark`` chains
them for library users, tests and benchmarks. Data flows one way:
config -> sources -> load (+sensors) -> store -> stac.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import dask
from rich.progress import Progress

from ml4earth_stac.chipping import ChipSummary, build_chips, check_label_sources
from ml4earth_stac.config import Aoi, Quality, Recipe, RunSettings, Source
from ml4earth_stac.errors import SceneSkipped, SourceError
from ml4earth_stac.grid import GridSpec, aoi_grid
from ml4earth_stac.load import LoadedScene, SceneRequest, load_scene
from ml4earth_stac.report import RunReport
from ml4earth_stac.sensors.adapters import SensorAdapter, adapter_for, check_collection, check_provider
from ml4earth_stac.sources.items import HrefPolicy, prepare_item
from ml4earth_stac.sources.metadata import text_reader
from ml4earth_stac.sources.search import SearchRequest, search_items
from ml4earth_stac.sources.signing import sign_assets, signer_for
from ml4earth_stac.stac import publish
from ml4earth_stac.stac.build import PublishedScene
from ml4earth_stac.stac.quicklook import true_colour_preview
from ml4earth_stac.store.cube import CubeLayout, CubeWriter, consolidate, group_path

LOG = logging.getLogger(__name__)
PLAN_NAME: Final = "plan.json"
WRITE_BATCH: Final = 4  # scenes written per pass; memory is bounded by dask chunks in flight, not by this
TRANSIENT_REASONS: Final = frozenset({"asset-unreadable", "read-failed"})


@dataclass
class Run:
    """State of one run of one recipe."""

    recipe: Recipe
    settings: RunSettings
    staging: Path
    report: RunReport
    scenes: list[PublishedScene] = field(default_factory=list)
    plan: dict[str, list[str]] = field(default_factory=dict)
    chips: list[ChipSummary] = field(default_factory=list)

    def api_url(self, source: Source) -> str:
        """The STAC API a source is searched at (run settings override the recipe)."""
        return self.settings.stac_api or source.api


@dataclass(frozen=True)
class AoiScenes:
    """The grid of one AOI and the items of one source found for it."""

    aoi: str
    source: Source
    adapter: SensorAdapter
    grid: GridSpec
    items: tuple[dict[str, Any], ...]

    @property
    def group(self) -> str:
        """The cube group and report key, ``<aoi>/<sensor>``."""
        return group_path(self.aoi, self.source.sensor)


def start_run(recipe: Recipe, settings: RunSettings) -> Run:
    """Check the recipe's sources, prepare the output and staging folders and an empty report.

    Raises:
        RecipeError: a source names an unknown sensor, band or collection.
    """
    for source in recipe.sources:
        adapter = _adapter(recipe, source)
        check_collection(adapter, source.provider, source.collection)
        for band in source.bands:
            adapter.band(band)
    if recipe.labels is not None:
        check_label_sources(recipe.labels, settings.labels_root)
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    publish.recover_interrupted_swap(settings.output_dir, recipe.id)
    return Run(recipe, settings, publish.staging_dir(settings.output_dir, recipe.id), RunReport(recipe.id))


def find_scenes(run: Run, aoi: Aoi, source: Source) -> AoiScenes:
    """Search the STAC API of one source for one AOI; an empty result is recorded, not raised."""
    recipe, api_url = run.recipe, run.api_url(source)
    with run.report.timed("search"):
        grid = aoi_grid(aoi.geometry, recipe.grid.crs, recipe.grid.resolution)
        result = search_items(
            SearchRequest(
                api_url=api_url,
                collection=source.collection,
                intersects=aoi.geometry,
                datetime=recipe.time_range.as_stac_interval(),
                max_cloud_cover=source.max_cloud_cover,
            )
        )
    scenes = AoiScenes(aoi.name, source, _adapter(recipe, source), grid, result.items)
    run.report.found[scenes.group] = result.found
    for item_id, detail in result.too_cloudy:
        run.report.skip(scenes.group, item_id, "too-cloudy", detail)
    if result.found == 0:
        run.report.skip(
            scenes.group,
            "-",
            "no-scenes",
            f"search of {source.collection} at {api_url} for {recipe.time_range.as_stac_interval()} "
            "returned nothing; widen time_range or check the AOI geometry and collection",
        )
    run.plan[scenes.group] = sorted(item["id"] for item in result.items)
    return scenes


def find_all_scenes(run: Run) -> list[AoiScenes]:
    """Search every source for every AOI."""
    return [find_scenes(run, aoi, source) for aoi in run.recipe.aois for source in run.recipe.sources]


def is_up_to_date(run: Run) -> bool:
    """True when the published benchmark was built from this recipe and exactly these scenes."""
    published = run.settings.output_dir / run.recipe.id / PLAN_NAME
    if not published.exists():
        return False
    previous = json.loads(published.read_text())
    return previous.get("fingerprint") == _fingerprint(run) and not previous.get("transient_skips")


def ingest_aoi(run: Run, scenes: AoiScenes) -> None:
    """Load, decode, check and append every scene of one AOI to the cube; bad scenes are skipped."""
    recipe = run.recipe
    request = scene_request(recipe, scenes)
    writer = CubeWriter(
        CubeLayout(
            run.staging / publish.CUBE_NAME,
            scenes.aoi,
            scenes.adapter,
            scenes.grid,
            recipe.grid.chunk_px,
            recipe.grid.shard_px,
        ),
        capacity=max(len(scenes.items), 1),
    )
    policy = HrefPolicy(hosts=run.settings.allowed_hosts)
    signer = signer_for(scenes.source.provider)

    def load_checked(item: dict[str, Any]) -> LoadedScene:
        try:
            check_provider(scenes.adapter, scenes.source.provider, item)
        except SourceError as exc:
            raise SceneSkipped(item["id"], "wrong-provider", str(exc)) from exc
        expanded = scenes.adapter.expand(item, text_reader(item["id"], policy, signer))
        prepared = prepare_item(expanded, request.asset_keys(), policy)
        scene = load_scene(sign_assets(prepared, signer), request)
        check_quality(scene, recipe.quality)
        return scene

    # Scenes are loaded (SCL read, fractions checked) one batch ahead in a helper thread, and written a
    # batch at a time so that the reads of neighbouring scenes overlap.
    batch_size = max(WRITE_BATCH, run.settings.threads)
    run.report.used.setdefault(scenes.group, [])
    with _progress(len(scenes.items), f"ingest {scenes.group}") as advance, ThreadPoolExecutor(1) as ahead:
        loading = _LookAhead(ahead, load_checked, scenes.items, depth=batch_size)
        batch: list[tuple[dict[str, Any], LoadedScene]] = []
        while loading:
            item, future = loading.pop()
            try:
                batch.append((item, future.result()))
            except SceneSkipped as skip:
                _record_skip(run, scenes.group, skip)
            advance()
            # the first scene is written alone, so writing starts while the next batch loads
            if batch and (len(batch) == batch_size or not loading or writer.times_written == 0):
                with run.report.timed("load+write"):
                    _write_batch(run, scenes, writer, batch)
                batch = []
    writer.close()


def _write_batch(
    run: Run, scenes: AoiScenes, writer: CubeWriter, batch: list[tuple[dict[str, Any], LoadedScene]]
) -> None:
    previews = [true_colour_preview(scene.data) for _, scene in batch]
    extras = [{} if preview is None else {"preview": preview} for preview in previews]
    first_slot = writer.times_written
    results = writer.write_batch([scene for _, scene in batch], extras)
    slot = first_slot
    for (item, scene), result in zip(batch, results, strict=True):
        if isinstance(result, SceneSkipped):
            _record_skip(run, scenes.group, result)
            continue
        run.report.used.setdefault(scenes.group, []).append(item["id"])
        run.scenes.append(_published(scenes, item, scene, slot, result))
        slot += 1


class _LookAhead:
    """Items with their loads submitted in order, at most ``depth`` ahead (bounded memory)."""

    def __init__(
        self,
        executor: ThreadPoolExecutor,
        load: Callable[[dict[str, Any]], LoadedScene],
        items: Sequence[dict[str, Any]],
        depth: int,
    ) -> None:
        self._submit = lambda item: executor.submit(load, item)
        self._items = iter(items)
        self._queue: deque[tuple[dict[str, Any], Future[LoadedScene]]] = deque()
        self._depth = depth
        self._top_up()

    def __bool__(self) -> bool:
        return bool(self._queue)

    def pop(self) -> tuple[dict[str, Any], Future[LoadedScene]]:
        """The next item and the future of its load."""
        entry = self._queue.popleft()
        self._top_up()
        return entry

    def _top_up(self) -> None:
        while len(self._queue) < self._depth and (item := next(self._items, None)) is not None:
            self._queue.append((item, self._submit(item)))


def _record_skip(run: Run, aoi: str, skip: SceneSkipped) -> None:
    LOG.warning("%s", skip)
    run.report.skip(aoi, skip.item_id, skip.reason, skip.detail)


def scene_request(recipe: Recipe, scenes: AoiScenes) -> SceneRequest:
    """What to load of each scene of one source, onto one AOI's grid (dask chunks = whole shards)."""
    return SceneRequest(
        grid=scenes.grid,
        adapter=scenes.adapter,
        bands=tuple(scenes.source.bands),
        provider=scenes.source.provider,
        resampling=recipe.grid.resampling,
        chunk_px=recipe.grid.shard_px,
    )


def _adapter(recipe: Recipe, source: Source) -> SensorAdapter:
    return adapter_for(source.sensor, {"masked_scl_classes": recipe.quality.masked_scl_classes})


def check_quality(scene: LoadedScene, quality: Quality) -> None:
    """Raise SceneSkipped when a scene's valid or cloud fraction over the AOI misses the recipe's limits."""
    if scene.valid_fraction < quality.min_valid_fraction:
        raise SceneSkipped(
            scene.item_id,
            "no-data",
            f"valid fraction over the AOI {scene.valid_fraction:.3f} < quality.min_valid_fraction "
            f"{quality.min_valid_fraction}",
        )
    if scene.cloud_fraction > quality.max_cloud_fraction:
        raise SceneSkipped(
            scene.item_id,
            "too-cloudy",
            f"cloud fraction over the AOI {scene.cloud_fraction:.3f} > quality.max_cloud_fraction "
            f"{quality.max_cloud_fraction}",
        )


def _published(
    scenes: AoiScenes, item: dict[str, Any], scene: LoadedScene, time_index: int, extras: dict[str, Any]
) -> PublishedScene:
    return PublishedScene(
        aoi=scenes.aoi,
        item_id=item["id"],
        upstream=item,
        time_index=time_index,
        grid=scenes.grid,
        valid_fraction=scene.valid_fraction,
        cloud_fraction=scene.cloud_fraction,
        adapter=scenes.adapter,
        bands=tuple(scenes.source.bands),
        facts=dict(scene.facts),
        preview=extras.get("preview"),
    )


def chip_benchmark(run: Run) -> None:
    """Cut the cube into labelled chips with spatial splits (recipes with ``labels``; else nothing)."""
    if run.recipe.labels is None or not run.scenes:
        return
    with run.report.timed("chips"):
        run.chips = build_chips(
            run.recipe,
            run.staging / publish.CUBE_NAME,
            run.staging / publish.CHIPS_NAME,
            run.settings.labels_root,
        )
    run.report.record_chips(run.chips)


def publish_run(run: Run) -> RunReport:
    """Consolidate the store, write STAC into staging, then swap it into place."""
    report, output_dir = run.report, run.settings.output_dir
    if not run.scenes:
        shutil.rmtree(run.staging, ignore_errors=True)
        raise SourceError(
            f"no scene of benchmark {run.recipe.id!r} could be ingested; nothing was published "
            f"(the previous publication, if any, is untouched). Reasons: {report.to_dict()['skip_reasons']}"
        )
    with report.timed("publish"):
        store = run.staging / publish.CUBE_NAME
        consolidate(store)
        report.bytes_written += publish.write_benchmark_stac(
            run.staging, run.recipe, run.scenes, run.api_url(run.recipe.sources[0]), run.chips
        )
        for stored in (store, run.staging / publish.CHIPS_NAME):
            report.bytes_written += sum(p.stat().st_size for p in stored.rglob("*") if p.is_file())
        _write_plan(run)
        report.outputs = _published_paths(run)
        report.save(run.staging / "run-report.json")
        publish.swap_into_place(run.staging, output_dir, run.recipe.id)
    return report


def finish_up_to_date(run: Run) -> RunReport:
    """End a run that found nothing new: drop the staging folder and say so."""
    shutil.rmtree(run.staging, ignore_errors=True)
    run.report.up_to_date = True
    run.report.outputs = _published_paths(run)
    return run.report


def _published_paths(run: Run) -> dict[str, str]:
    """Where the published catalog, collection and cube of a run live."""
    output_dir = run.settings.output_dir
    target = output_dir / run.recipe.id
    return {
        "catalog": str(output_dir / "catalog.json"),
        "collection": str(target / "collection.json"),
        "cube": str(target / publish.CUBE_NAME),
        **({"chips": str(target / publish.CHIPS_NAME)} if run.recipe.labels is not None else {}),
    }


def run_benchmark(recipe: Recipe, settings: RunSettings) -> RunReport:
    """Run every step of one recipe (the library twin of the Prefect flow)."""
    run = start_run(recipe, settings)
    found = find_all_scenes(run)
    if is_up_to_date(run):
        return finish_up_to_date(run)
    with dask_scheduler(settings):
        for scenes in found:
            ingest_aoi(run, scenes)
    chip_benchmark(run)
    return publish_run(run)


@contextmanager
def dask_scheduler(settings: RunSettings) -> Iterator[None]:
    """Use a Dask cluster when an address is given, else Dask's threaded scheduler on this machine."""
    if settings.dask_address:
        import distributed

        with distributed.Client(settings.dask_address) as client:
            LOG.info("array work on Dask cluster %s", client.dashboard_link)
            yield
        return
    with dask.config.set(scheduler="threads", num_workers=settings.threads):
        yield


def _fingerprint(run: Run) -> str:
    payload = json.dumps({"recipe": run.recipe.model_dump(mode="json"), "plan": run.plan}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _write_plan(run: Run) -> None:
    transient = [s.item_id for s in run.report.skipped if s.reason in TRANSIENT_REASONS]
    (run.staging / PLAN_NAME).write_text(
        json.dumps(
            {"fingerprint": _fingerprint(run), "plan": run.plan, "transient_skips": transient}, indent=2
        )
    )


@contextmanager
def _progress(total: int, description: str) -> Iterator[Any]:
    with Progress(transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda: progress.advance(task)


__all__ = [
    "Run",
    "AoiScenes",
    "start_run",
    "find_scenes",
    "find_all_scenes",
    "is_up_to_date",
    "ingest_aoi",
    "publish_run",
    "finish_up_to_date",
    "run_benchmark",
    "dask_scheduler",
]
