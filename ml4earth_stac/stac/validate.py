"""Offline validation of STAC JSON against a local mirror of the STAC schemas.

The schemas live in a folder holding ``schema-map.json``, a map from schema URL (and a few wrong official
``$id`` values) to a file path relative to that folder. Every ``$ref`` is resolved through that map; an
unmapped URL raises :class:`~ml4earth_stac.errors.StacError` naming the URL. Nothing is ever fetched from the
network.

Validation of *our own output* is a hard requirement (see ``ValidationReport.raise_for_problems``); real
provider items sometimes fail their own declared schemas, so validation of *input* items is best treated as a
warning (STACK-NOTES "Offline STAC validation").

The tree walk reads plain JSON and follows ``child`` and ``item`` links itself: pystac's walk costs more per
item the bigger the catalog grows.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit
from urllib.request import url2pathname

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT7

from ml4earth_stac.errors import StacError

DEFAULT_SCHEMAS_ENV: Final = "ML4EARTH_STAC_SCHEMAS"
REFERENCE_ENV: Final = "ML4EARTH_REFERENCE"
SCHEMA_MAP_NAME: Final = "schema-map.json"
PACKAGE_SCHEMAS_DIR: Final = Path(__file__).parent / "schemas"
LINK_CHECK: Final = "link-check"
"""The ``schema`` of a problem found by the tree walk (a broken link), not by a JSON schema."""
FOLLOWED_LINK_RELS: Final = ("child", "item")
MAX_MESSAGE_CHARS: Final = 400

_STACSPEC: Final = "https://schemas.stacspec.org"
_CORE_SCHEMA_PATHS: Final[Mapping[str, str]] = {
    "Feature": "item-spec/json-schema/item.json",
    "Collection": "collection-spec/json-schema/collection.json",
    "Catalog": "catalog-spec/json-schema/catalog.json",
}
_REPO_ROOT: Final = Path(__file__).resolve().parents[2]


def default_schemas_dir() -> Path:
    """Find the folder of the local STAC schema mirror.

    Returns:
        ``$ML4EARTH_STAC_SCHEMAS`` if set, else ``$ML4EARTH_REFERENCE/stac-schemas`` if set, else
        ``<repo>/../shared/reference/stac-schemas``.

    Raises:
        StacError: the chosen folder holds no ``schema-map.json``.
    """
    if os.environ.get(DEFAULT_SCHEMAS_ENV):
        folder, origin = Path(os.environ[DEFAULT_SCHEMAS_ENV]), f"${DEFAULT_SCHEMAS_ENV}"
    elif os.environ.get(REFERENCE_ENV):
        folder, origin = Path(os.environ[REFERENCE_ENV]) / "stac-schemas", f"${REFERENCE_ENV}/stac-schemas"
    else:
        folder, origin = _REPO_ROOT.parent / "shared" / "reference" / "stac-schemas", "the default location"
    if not (folder / SCHEMA_MAP_NAME).is_file():
        raise StacError(
            f"no {SCHEMA_MAP_NAME} in {folder} ({origin}); set {DEFAULT_SCHEMAS_ENV} to the folder of the "
            f"STAC schema mirror (holding {SCHEMA_MAP_NAME}) or {REFERENCE_ENV} to the reference folder"
        )
    return folder.resolve()


@dataclass(frozen=True)
class ValidationProblem:
    """One reason why a STAC document is invalid.

    Attributes:
        path: the file (or ``<dict>``-style label) of the document.
        schema: the URL of the schema that failed, or ``LINK_CHECK`` for a broken link.
        message: what is wrong, starting with the JSON pointer of the failing field.
    """

    path: str
    schema: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: [{self.schema}] {self.message}"


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of validating a tree of STAC documents.

    Attributes:
        checked: the number of STAC documents validated (each feature of a FeatureCollection counts).
        problems: every problem found, in walk order.
    """

    checked: int
    problems: tuple[ValidationProblem, ...]

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def summary(self, limit: int = 20) -> str:
        """A human-readable summary listing at most ``limit`` problems."""
        head = f"{self.checked} STAC documents checked, {len(self.problems)} problems"
        lines = [str(problem) for problem in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"... and {len(self.problems) - limit} more")
        return "\n".join([head, *lines])

    def raise_for_problems(self) -> None:
        """Raise StacError listing the problems, if any.

        Raises:
            StacError: at least one problem was found.
        """
        if self.problems:
            raise StacError(f"STAC validation failed: {self.summary()}")


class StacValidator:
    """Validates STAC documents against core and extension schemas from a local mirror.

    Compiled validators are cached per schema URL, so one instance can check many thousands of items.
    """

    def __init__(self, schemas_dir: Path | None = None, *, skip_schemas: Iterable[str] = ()) -> None:
        """Load the schema map and every schema it names.

        Args:
            schemas_dir: folder holding ``schema-map.json``; ``default_schemas_dir()`` if None.
            skip_schemas: extension URLs not to check (e.g. a provider schema that was never published);
                these are skipped silently instead of raising for being unmapped.

        Raises:
            StacError: the map or a file it names is missing or not valid JSON.
        """
        self.schemas_dir = Path(schemas_dir) if schemas_dir is not None else default_schemas_dir()
        self.skip_schemas = frozenset(_strip_fragment(url) for url in skip_schemas)
        # schemas the reference mirror lacks (written for this project), then the mirror (which wins)
        self._schemas = {**_load_schema_map(PACKAGE_SCHEMAS_DIR), **_load_schema_map(self.schemas_dir)}
        resources = [(url, DRAFT7.create_resource(contents)) for url, contents in self._schemas.items()]
        self._registry: Registry = Registry(retrieve=self._retrieve).with_resources(resources)
        self._validators: dict[str, Draft7Validator] = {}

    def _retrieve(self, uri: str) -> Resource:
        """Called by ``referencing`` only for URLs missing from the map: refuse, never go online."""
        raise StacError(
            f"schema {uri} is not in {self.schemas_dir / SCHEMA_MAP_NAME}; add the schema file and its "
            f"URL to the map (no network access is attempted), or pass it in skip_schemas"
        )

    def validator_for(self, url: str) -> Draft7Validator:
        """The compiled (cached) validator of one schema URL.

        Raises:
            StacError: the URL is not in the schema map.
        """
        key = _strip_fragment(url)
        if key not in self._validators:
            if key not in self._schemas:
                self._retrieve(url)
            self._validators[key] = Draft7Validator(self._schemas[key], registry=self._registry)
        return self._validators[key]

    def validate_dict(self, doc: Mapping[str, Any], where: str = "<dict>") -> list[ValidationProblem]:
        """Validate one STAC document (Item, Collection, Catalog; or each feature of a FeatureCollection).

        Args:
            doc: the parsed JSON document.
            where: the file or label named in the problems.

        Returns:
            Problems against the core schema of the document's type and ``stac_version`` and against each
            schema in ``stac_extensions``; empty when valid.

        Raises:
            StacError: a schema URL (core, extension or ``$ref``) is not in the schema map.
        """
        if not isinstance(doc, Mapping):
            return [ValidationProblem(where, "", "/: a STAC document must be a JSON object")]
        if doc.get("type") == "FeatureCollection":
            return self._validate_features(doc, where)
        core_url, problems = _core_schema_url(doc, where)
        if core_url is None:
            return problems
        for url in _schema_urls(core_url, doc.get("stac_extensions")):
            if _strip_fragment(url) not in self.skip_schemas:
                problems.extend(self._check(doc, url, where))
        return problems

    def _validate_features(self, doc: Mapping[str, Any], where: str) -> list[ValidationProblem]:
        features = doc.get("features")
        if not isinstance(features, list):
            return [ValidationProblem(where, "", "/features: a FeatureCollection needs a list of features")]
        problems: list[ValidationProblem] = []
        for index, feature in enumerate(features):
            problems.extend(self.validate_dict(feature, f"{where}#/features/{index}"))
        return problems

    def _check(self, doc: Mapping[str, Any], url: str, where: str) -> list[ValidationProblem]:
        validator = self.validator_for(url)
        try:
            errors = list(validator.iter_errors(doc))
        except Unresolvable as error:
            raise _unresolvable_error(error, url, where) from error
        return [ValidationProblem(where, url, _describe(error)) for error in errors]


def validate_tree(path: Path, validator: StacValidator | None = None) -> ValidationReport:
    """Validate a static STAC catalog by walking its ``child`` and ``item`` links.

    Each local file is read and validated once; remote (``http(s)://``, ``s3://``...) links are not followed;
    a link to a missing local file is reported as a problem with schema ``LINK_CHECK``.

    Args:
        path: a catalog/collection/item JSON file (or FeatureCollection), or a folder holding
            ``catalog.json`` (or ``collection.json``).
        validator: a validator to reuse; a new ``StacValidator()`` if None.

    Returns:
        The number of documents checked and every problem found.

    Raises:
        StacError: ``path`` does not exist, or a schema URL is not in the schema map.
    """
    validator = validator if validator is not None else StacValidator()
    root = _root_file(Path(path))
    queue, seen = deque([root]), {root}
    checked, problems = 0, []
    while queue:
        file = queue.popleft()
        doc, load_problem = _load_document(file)
        if load_problem is not None:
            problems.append(load_problem)
            continue
        checked += _count_documents(doc)
        problems.extend(validator.validate_dict(doc, str(file)))
        for target, link_problem in _local_links(doc, file):
            if link_problem is not None:
                problems.append(link_problem)
            elif target not in seen:
                seen.add(target)
                queue.append(target)
    return ValidationReport(checked=checked, problems=tuple(problems))


def _strip_fragment(url: str) -> str:
    return url[:-1] if url.endswith("#") else url


def _load_schema_map(folder: Path) -> dict[str, Any]:
    """Parse ``schema-map.json`` and every schema file it names, keyed by URL without a trailing ``#``."""
    map_file = folder / SCHEMA_MAP_NAME
    try:
        mapping = json.loads(map_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise StacError(
            f"cannot read the schema map {map_file}: {error}; point the validator at a "
            f"folder holding a valid {SCHEMA_MAP_NAME}"
        ) from error
    loaded: dict[str, Any] = {}
    by_file: dict[str, Any] = {}
    for url, relative in mapping.items():
        if relative not in by_file:
            by_file[relative] = _load_schema_file(folder / relative, url, map_file)
        loaded[_strip_fragment(url)] = by_file[relative]
    return loaded


def _load_schema_file(file: Path, url: str, map_file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise StacError(
            f"schema {url} maps to {file} in {map_file}, which cannot be read as JSON "
            f"({error}); restore the file or fix the map"
        ) from error


def _core_schema_url(doc: Mapping[str, Any], where: str) -> tuple[str | None, list[ValidationProblem]]:
    """The core schema URL of a document, or problems saying why it cannot be chosen."""
    kind, version = doc.get("type"), doc.get("stac_version")
    problems = []
    if kind not in _CORE_SCHEMA_PATHS:
        problems.append(
            ValidationProblem(
                where, "", f"/type: {kind!r} is not a STAC type; use 'Feature', 'Collection' or 'Catalog'"
            )
        )
    if not isinstance(version, str):
        problems.append(ValidationProblem(where, "", f"/stac_version: missing or not a string ({version!r})"))
    if problems:
        return None, problems
    return f"{_STACSPEC}/v{version}/{_CORE_SCHEMA_PATHS[kind]}", []


def _schema_urls(core_url: str, extensions: Any) -> list[str]:
    """The core URL then each distinct string in ``stac_extensions`` (the core schema checks its type)."""
    urls = [core_url]
    if isinstance(extensions, list):
        for url in extensions:
            if isinstance(url, str) and url not in urls:
                urls.append(url)
    return urls


def _describe(error: ValidationError) -> str:
    """JSON pointer of the most relevant failing field plus the validator's message, shortened."""
    best = _most_specific(error)
    pointer = "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in best.absolute_path)
    message = best.message
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 3] + "..."
    return f"{pointer or '/'}: {message}"


def _most_specific(error: ValidationError) -> ValidationError:
    """Descend oneOf/anyOf contexts to the failure at the deepest field (the first one on ties).

    ``jsonschema.best_match`` stops at the root when the branches of a oneOf fail differently (e.g. the
    Feature branch on a bad band name and the Collection branch on ``type``), leaving a useless message that
    repeats the whole document.
    """
    while error.context:
        error = max(error.context, key=lambda sub: len(sub.absolute_path))
    return error


def _unresolvable_error(error: Unresolvable, url: str, where: str) -> StacError:
    """Turn a ``referencing`` failure into a StacError; keep ours (an unmapped URL) when it is the cause."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, StacError):
            return StacError(f"{where}: while checking against {url}: {cause}")
        cause = cause.__cause__
    return StacError(
        f"{where}: cannot resolve {error} while checking against {url}; check the schema files of the mirror"
    )


def _root_file(path: Path) -> Path:
    if path.is_dir():
        for name in ("catalog.json", "collection.json"):
            if (path / name).is_file():
                return (path / name).resolve()
        raise StacError(f"{path} holds no catalog.json or collection.json; pass the root STAC file instead")
    if not path.is_file():
        raise StacError(f"{path} does not exist; pass a STAC JSON file or a folder holding catalog.json")
    return path.resolve()


def _load_document(file: Path) -> tuple[Any, ValidationProblem | None]:
    try:
        return json.loads(file.read_text(encoding="utf-8")), None
    except (OSError, ValueError) as error:
        return None, ValidationProblem(str(file), "", f"/: cannot read as JSON: {error}")


def _count_documents(doc: Any) -> int:
    if isinstance(doc, Mapping) and doc.get("type") == "FeatureCollection":
        features = doc.get("features")
        return len(features) if isinstance(features, list) else 0
    return 1


def _local_links(doc: Any, file: Path) -> Iterator[tuple[Path, ValidationProblem | None]]:
    """Local targets of ``child``/``item`` links, with a problem for each that points to a missing file."""
    links = doc.get("links") if isinstance(doc, Mapping) else None
    for index, link in enumerate(links if isinstance(links, Sequence) else ()):
        if not isinstance(link, Mapping) or link.get("rel") not in FOLLOWED_LINK_RELS:
            continue
        href = link.get("href")
        target = _local_target(href, file) if isinstance(href, str) else None
        if target is None:
            continue
        if not target.is_file():
            yield (
                target,
                ValidationProblem(
                    str(file),
                    LINK_CHECK,
                    (
                        f"/links/{index}: rel={link['rel']!r} href={href!r} points to missing file {target}; "
                        f"write that file or fix the href"
                    ),
                ),
            )
        else:
            yield target, None


def _local_target(href: str, file: Path) -> Path | None:
    """The local path a link points to, or None for a remote link (not followed)."""
    parts = urlsplit(href)
    if parts.scheme == "file":
        return Path(url2pathname(parts.path)).resolve()
    if parts.scheme and len(parts.scheme) > 1:  # http, https, s3, ...; one letter is a Windows drive
        return None
    return (file.parent / url2pathname(parts.path)).resolve()
