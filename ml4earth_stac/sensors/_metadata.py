"""Reading item metadata the same way in every sensor module."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ml4earth_stac.errors import SourceError


def properties_and_label(obj: Any, *id_fields: str) -> tuple[Mapping[str, Any], str]:
    """The properties of an item dict, or the mapping itself when given bare properties, and a label that
    names the item in error messages.

    Args:
        obj: a STAC item dict or its ``properties``.
        id_fields: property fields that identify a scene when only properties are given, tried in order.

    Raises:
        SourceError: ``obj`` is not a mapping.
    """
    if not isinstance(obj, Mapping):
        raise SourceError(f"expected a STAC item dict or its properties, got {type(obj).__name__}")
    props = obj.get("properties")
    if isinstance(props, Mapping):
        return props, f"item {obj.get('id', '<no id>')}"
    label = next((str(obj[f]) for f in id_fields if obj.get(f)), "<properties>")
    return obj, f"item {label}"
