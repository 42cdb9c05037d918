"""``ml4earth``: the command line. Each subcommand is a few lines calling the library or the flows."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated, Final

import typer
from rich.console import Console

from ml4earth_stac.errors import Ml4EarthError

app = typer.Typer(
    help="Turn Earth-observation archives into ML-ready benchmarks published as STAC.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
archive_app = typer.Typer(
    help="The seeded sample archive (synthetic Sentinel-2 scenes + a local STAC API).", no_args_is_help=True
)
app.add_typer(archive_app, name="archive")
console = Console()

DEMO_RECIPES: Final = (Path("catalog/svalbard-calving-fronts.yaml"), Path("catalog/south-america-utc.yaml"))
DEFAULT_ARCHIVE: Final = Path("sample-archive")
DEFAULT_OUTPUT: Final = Path("outputs")
DEMO_SENSORS: Final = ("sentinel-2", "landsat", "sentinel-1", "aster")
DEMO_GLACIERS: Final = ("kronebreen", "negribreen")
DEMO_CITIES: Final = ("curitiba", "medellin", "santiago")
DEMO_UNET_SECONDS: Final = 60.0  # per benchmark, on 2 CPU cores


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/] {exc}")
    raise typer.Exit(code=1)


def _prefect_defaults() -> None:
    """Ephemeral Prefect, offline: no telemetry; its state in ./.prefect unless PREFECT_HOME is set."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_HOME", str(Path(".prefect").resolve()))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)


@archive_app.command("build")
def archive_build(
    root: Annotated[Path, typer.Option(help="archive folder")] = DEFAULT_ARCHIVE,
    dates: Annotated[int, typer.Option(help="number of acquisition dates")] = 8,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    sensors: Annotated[
        str, typer.Option(help="comma-separated: sentinel-2,landsat,sentinel-1,aster")
    ] = ",".join(DEMO_SENSORS),
    provider: Annotated[str, typer.Option(help="planetary-computer or earth-search (Sentinel-2 items)")] = (
        "planetary-computer"
    ),
    glaciers: Annotated[str, typer.Option(help="comma-separated: kronebreen,negribreen")] = ",".join(
        DEMO_GLACIERS
    ),
) -> None:
    """Build (or reuse) the seeded sample archive of scenes over Kronebreen, Svalbard."""
    from ml4earth_stac.archive import ArchiveSpec, build_sample_archive

    spec = ArchiveSpec(
        n_dates=dates,
        seed=seed,
        sensors=tuple(sensors.split(",")),
        provider=provider,
        glaciers=tuple(glaciers.split(",")),
    )
    manifest = build_sample_archive(root, spec)
    console.print(f"sample archive: {len(manifest.item_ids)} scenes in {root}")


@archive_app.command("serve")
def archive_serve(root: Annotated[Path, typer.Option(help="archive folder")] = DEFAULT_ARCHIVE) -> None:
    """Serve the sample archive: a STAC API and its COGs on 127.0.0.1 until Ctrl-C."""
    from ml4earth_stac.archive import ArchiveServer

    with ArchiveServer(root) as server:
        console.print(f"STAC API: {server.stac_api_url}\nfiles:    {server.files_url}\nCtrl-C to stop")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


@app.command("run")
def run(
    recipe: Annotated[Path, typer.Argument(help="recipe YAML, e.g. catalog/svalbard-calving-fronts.yaml")],
    output: Annotated[Path, typer.Option(help="publish folder")] = DEFAULT_OUTPUT,
    stac_api: Annotated[str | None, typer.Option(help="STAC API to use instead of the recipe's")] = None,
    dask_address: Annotated[str | None, typer.Option(help="tcp://host:port of a Dask scheduler")] = None,
    threads: Annotated[int, typer.Option(help="threads of the local Dask scheduler")] = 2,
    labels_root: Annotated[
        str | None, typer.Option(help="folder or URL the recipe's relative label hrefs are resolved against")
    ] = None,
) -> None:
    """Run the ingest flow of one recipe (Prefect, ephemeral) and publish its STAC collection."""
    from ml4earth_stac.config import load_recipe

    try:
        load_recipe(recipe)  # fail fast on a bad recipe, before Prefect starts
        _prefect_defaults()
        from flows.ingest import ingest_benchmark

        ingest_benchmark(str(recipe), str(output), stac_api, dask_address, threads, labels_root)
    except Ml4EarthError as exc:
        _fail(exc)


@app.command("train")
def train(
    recipe: Annotated[Path, typer.Argument(help="recipe of a published benchmark with labels")],
    output: Annotated[Path, typer.Option(help="publish folder")] = DEFAULT_OUTPUT,
    labels_root: Annotated[str | None, typer.Option(help="where the recipe's label files are")] = None,
    seed: Annotated[int, typer.Option(help="seed of the pixel sample and the model")] = 0,
    unet_seconds: Annotated[
        float | None, typer.Option(help="also train a U-Net for this many seconds (needs the train extra)")
    ] = None,
) -> None:
    """Train the baselines on the train chips, evaluate them on the test split, publish them as MLM items."""
    from ml4earth_stac.config import load_recipe
    from ml4earth_stac.inference.train import train_benchmark

    try:
        models = train_benchmark(
            load_recipe(recipe), output, seed=seed, labels_root=labels_root, unet_seconds=unet_seconds
        )
        for model in models:
            shown = {k: v for k, v in model.metrics.items() if not isinstance(v, dict)}
            console.print(f"model {model.model_id}: {model.item}\n  test metrics: {shown}", soft_wrap=True)
    except Ml4EarthError as exc:
        _fail(exc)


@app.command("infer")
def infer(
    recipe: Annotated[Path, typer.Argument(help="recipe of a published benchmark with a trained baseline")],
    output: Annotated[Path, typer.Option(help="publish folder")] = DEFAULT_OUTPUT,
) -> None:
    """Run the benchmark's baseline over every AOI and date; publish the products as a STAC collection."""
    from ml4earth_stac.config import load_recipe
    from ml4earth_stac.inference.batch import infer_benchmark
    from ml4earth_stac.inference.product_stac import publish_products
    from ml4earth_stac.inference.train import best_model

    try:
        loaded = load_recipe(recipe)
        model = best_model(output, loaded)
        run = infer_benchmark(loaded, output, model.onnx, model.model_id)
        target = publish_products(run, loaded, output, str(model.item.relative_to(output)))
        console.print(f"products: {target / 'collection.json'} ({len(run.fronts) or len(run.cities)} items)")
        for missing in run.no_front:
            console.print(
                f"  [yellow]no front[/] {missing['glacier']} {missing['datetime']}: {missing['reason']}"
            )
    except Ml4EarthError as exc:
        _fail(exc)


@app.command("validate")
def validate(
    path: Annotated[Path, typer.Argument(help="catalog.json, collection.json, item or folder")],
    schemas: Annotated[Path | None, typer.Option(help="folder holding schema-map.json")] = None,
) -> None:
    """Validate a static STAC catalog offline: core and every extension, following child/item links."""
    from ml4earth_stac.stac.validate import StacValidator, validate_tree

    try:
        report = validate_tree(path, StacValidator(schemas))
    except Ml4EarthError as exc:
        _fail(exc)
        return
    for problem in report.problems:
        console.print(f"[red]invalid[/] {problem.path}: {problem.message} ({problem.schema})")
    status = "[green]valid[/]" if report.ok else "[red]INVALID[/]"
    console.print(f"{status}: {report.checked} STAC documents checked, {len(report.problems)} problems")
    if not report.ok:
        raise typer.Exit(code=1)


@app.command("demo")
def demo(
    output: Annotated[Path, typer.Option(help="publish folder")] = DEFAULT_OUTPUT,
    archive: Annotated[Path, typer.Option(help="sample archive folder")] = DEFAULT_ARCHIVE,
    recipes: Annotated[
        list[Path] | None, typer.Option("--recipe", help="recipe(s) to run against the archive")
    ] = None,
) -> None:
    """Build the sample archive, serve it on 127.0.0.1, run both benchmarks on it, validate the result."""
    from ml4earth_stac.archive import ArchiveServer, ArchiveSpec, build_sample_archive

    recipes = recipes or list(DEMO_RECIPES)
    spec = ArchiveSpec(sensors=DEMO_SENSORS, glaciers=DEMO_GLACIERS, cities=DEMO_CITIES)
    build_sample_archive(archive, spec)
    with ArchiveServer(archive) as server:
        for recipe in recipes:
            run(
                recipe,
                output=output,
                stac_api=server.stac_api_url,
                dask_address=None,
                threads=os.cpu_count() or 2,
                labels_root=str(archive),  # the archive's truth: fronts, zones, canopy polygons
            )
        for recipe in recipes:  # baselines and products of each benchmark
            train(recipe, output=output, labels_root=str(archive), seed=0, unet_seconds=DEMO_UNET_SECONDS)
            infer(recipe, output=output)
    validate(output / "catalog.json", None)
    recipe = recipes[0]
    cube = output / recipe.stem / "cube.zarr"
    command = sys.argv[0] if sys.argv[0].endswith("ml4earth") else "ml4earth"
    console.print(f"\n[bold]Done.[/] STAC catalog: {output / 'catalog.json'}   cube: {cube}", soft_wrap=True)
    console.print(f"browse it:  {command} serve {output}", soft_wrap=True)
    console.print(
        f"open it:    python -c \"import xarray as xr; print(xr.open_zarr('{cube}', "
        "group='kronebreen/sentinel-2'))\"",
        soft_wrap=True,
        markup=False,
    )


@app.command("serve")
def serve(
    path: Annotated[Path, typer.Argument(help="published output folder")] = DEFAULT_OUTPUT,
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 8000,
) -> None:
    """Serve a published catalog over HTTP (Range requests, CORS) for stac-browser, QGIS and xarray."""
    from ml4earth_stac.stac.serve import serve_folder

    url = f"http://127.0.0.1:{port}/catalog.json"
    console.print(
        f"catalog: {url}\nstac-browser: https://radiantearth.github.io/stac-browser/#/external/{url}\n"
        "QGIS 3.40+: Data Source Manager > STAC > new connection with the catalog URL\nCtrl-C to stop"
    )
    serve_folder(path, port)


if __name__ == "__main__":
    app()
