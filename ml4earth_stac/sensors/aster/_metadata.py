"""ASTER L1T metadata parsing: gains and acquisition time from the ECS ``.hdf.xml``, date values."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from typing import Final

from ml4earth_stac.errors import SourceError
from ml4earth_stac.sensors.aster._bands import GAINS, Gain, band

_GAINS_PSA: Final = "ASTERGains"


def parse_gains(xml_text: str, source: str = "ASTER .hdf.xml") -> dict[str, Gain]:
    """Band name -> gain (``{"B01": "HGH", ..., "B3N": "NOR"}``) from the ECS ``.hdf.xml`` (``xml`` asset).

    Reads the PSA ``ASTERGains``, e.g. ``"01 HGH, 02 HGH, 3N NOR, 04 NOR, ..., 09 NOR"``. TIR bands have a
    single gain and are not listed; 3B (not in L1T) is skipped.

    Args:
        xml_text: the text of the ``.hdf.xml`` file.
        source: what to call the file in error messages (its href or the item id).

    Raises:
        SourceError: the XML is not parsable, has no ``ASTERGains`` PSA, or lists an unknown gain code.
    """
    value = _psa_value(_parse_xml(xml_text, source), _GAINS_PSA, source)
    gains: dict[str, Gain] = {}
    for entry in filter(None, (part.strip() for part in value.split(","))):
        tokens = entry.split()
        if len(tokens) != 2 or tokens[1] not in GAINS:
            raise SourceError(
                f"{source}: {_GAINS_PSA} entry {entry!r} is not '<band> <gain>' with a gain in "
                f"{', '.join(GAINS)}; check the file or decode this scene with explicit gains"
            )
        if tokens[0].upper() != "3B":
            gains[band(tokens[0].lstrip("0")).name] = tokens[1]  # type: ignore[assignment]
    return gains


def parse_acquisition_datetime(xml_text: str, source: str = "ASTER .hdf.xml") -> dt.datetime:
    """The UTC acquisition time in an ECS ``.hdf.xml`` (``SingleDateTime``); SourceError if it has none."""
    root = _parse_xml(xml_text, source)
    date = root.findtext(".//SingleDateTime/CalendarDate")
    time = root.findtext(".//SingleDateTime/TimeofDay") or "00:00:00"
    try:
        return dt.datetime.fromisoformat(f"{date.strip()}T{time.strip()}").replace(tzinfo=dt.UTC)  # type: ignore[union-attr]
    except (AttributeError, ValueError) as exc:
        raise SourceError(
            f"{source}: no valid SingleDateTime/CalendarDate (found {date!r}); use the item's datetime"
        ) from exc


def _as_utc_date(value: dt.datetime | dt.date | str, field: str) -> dt.date:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise SourceError(f"{field} {value!r} is not ISO 8601; use e.g. 2006-12-27T01:36:47Z") from exc
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).date() if value.tzinfo else value.date()
    if isinstance(value, dt.date):
        return value
    raise SourceError(f"{field} {value!r} is not a date, datetime or ISO 8601 string")


def _parse_xml(xml_text: str, source: str) -> ET.Element:
    try:
        return ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise SourceError(f"{source}: not parsable XML ({exc}); fetch the item's xml asset again") from exc


def _psa_value(root: ET.Element, name: str, source: str) -> str:
    for psa in root.iter("PSA"):
        if (psa.findtext("PSAName") or "").strip() == name:
            return psa.findtext("PSAValue") or ""
    raise SourceError(
        f"{source}: no PSA {name!r} in the ECS metadata; use the item's xml asset (.hdf.xml), which lists it"
    )
