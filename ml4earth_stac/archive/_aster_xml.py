"""The ECS granule metadata file (``.hdf.xml``, PC's ``xml`` asset) of a synthetic ASTER L1T scene.

Same element structure and PSA order as the real file ``shared/reference/rasters/aster-l1t/
AST_L1T_00305032000040446_20150409135350_78838.hdf.xml``; ``ASTERGains`` in the real format (``"01 LO1, 02
NOR, 3N NOR, 04 NOR, ..."``), ``SingleDateTime`` the acquisition time, ``DataFiles`` the three COGs written
for the scene (size and MD5), ``GPolygon`` the corners of the data footprint.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Final, TypeAlias

from ml4earth_stac.archive._aster import ASTER_DOI, AsterPlan
from ml4earth_stac.archive._grid import SceneGrid, to_wgs84
from ml4earth_stac.sensors import aster

XML_HEADER: Final = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE GranuleMetaDataFile SYSTEM '
    '"http://ecsinfo.gsfc.nasa.gov/ECSInfo/ecsmetadata/dtds/DPL/ECS/ScienceGranuleMetadata.dtd">\n'
)
QUALITY_EXPLANATION: Final = (
    "Passed if algorithm ran within bounds of execution constraints. Suspect if bounds of execution "
    "constraints violated. Failed if PGE failed."
)
ECS_SERVER: Final = "UR:10:DsShESDTUR:UR:15:DsShSciServerUR:13:[EDC:DSSDSRV]"
Tree: TypeAlias = Sequence[tuple[str, "str | Tree"]]
"""XML content as nested (tag, text or children) pairs."""


def gains_psa(plan: AsterPlan) -> str:
    """The ``ASTERGains`` value, e.g. ``"01 LO1, 02 NOR, 3N NOR, 04 NOR, ..., 09 NOR"``."""
    return ", ".join(f"{name.removeprefix('B')} {gain}" for name, gain in plan.gains.items())


def _psas(plan: AsterPlan, clouds: Mapping[str, float]) -> list[tuple[str, str]]:
    """Product-specific attributes (name, value) in the order of real L1T granule files."""
    quads = [("UpperLeft", "upper_left"), ("UpperRight", "upper_right")]
    quads += [("LowerLeft", "lower_left"), ("LowerRight", "lower_right")]
    band_names = [b.name.removeprefix("B").lstrip("0") for b in aster.BANDS]
    available = [(f"Band{n}_Available", "Yes, band is acquired") for n in band_names[:3]]
    available.append(("Band3B_Available", "No, band was not acquired"))
    available += [(f"Band{n}_Available", "Yes, band is acquired") for n in band_names[3:]]
    vnir, swir, tir = (f"{a:.3f}" for a in plan.pointing_deg)
    return [
        ("ASTERMapProjection", "Universal Transverse Mercator"),
        ("SceneCloudCoverage", f"{clouds['scene']:.0f}"),
        *[(f"{name}QuadCloudCoverage", f"{clouds[key]:.0f}") for name, key in quads],
        *[(f"{s}_ObservationMode", "ON") for s in ("VNIR1", "VNIR2", "SWIR", "TIR")],
        *available,
        ("Solar_Azimuth_Angle", f"{plan.sun_azimuth:.6f}"),
        ("Solar_Elevation_Angle", f"{plan.sun_elevation:.6f}"),
        ("GenerationDateandTime", f"{plan.production_time:%Y-%m-%dT%H:%M:%S}.000Z"),
        ("GeometricDBVersion", "03.01"),
        ("RadiometricDBVersion", "04.00"),
        ("ASTERGains", gains_psa(plan)),
        ("Resampling", "CC"),
        ("FlyingDirection", "DE"),
        ("ASTERProcessingCenter", "LPDAAC"),
        ("ASTERReceivingCenter", "EDOS"),
        ("ASTERMapOrientationAngle", "0.0"),
        ("ASTERVNIRPointingAngle", vnir),
        ("ASTERSWIRPointingAngle", swir),
        ("ASTERTIRPointingAngle", tir),
        ("identifier_product_doi_authority", "http://dx.doi.org"),
        ("identifier_product_doi", ASTER_DOI),
        ("FullResolutionVisibleBrowseAvailable", "NO"),
        ("FullResolutionThermalBrowseAvailable", "NO"),
        ("CorrectionAchieved", "Terrain+Systematic"),
        ("NumberGCPChipsCorrelated", str(12 + plan.db_id % 20)),
        ("UTMZoneNumber", str(plan.epsg % 100)),
        ("SpheroidCode", "WGS84"),
        ("QABrowseAvailable", "NO"),
    ]


def _data_files(files: Mapping[str, tuple[int, str]]) -> Tree:
    """``DataFiles``: one container per written file (name, size in bytes, MD5 hex)."""
    return [
        (
            "DataFileContainer",
            [("DistributedFileName", name), ("FileSize", str(size)), ("ChecksumType", "MD5")]
            + [("Checksum", md5), ("ChecksumOrigin", "DPLIngst")],
        )
        for name, (size, md5) in files.items()
    ]


def _measured_parameter(clouds: Mapping[str, float]) -> Tree:
    stats = [("QAPercentMissingData", "0"), ("QAPercentOutofBoundsData", "0")]
    stats += [("QAPercentInterpolatedData", "100"), ("QAPercentCloudCover", f"{clouds['scene']:.0f}")]
    flags = [("AutomaticQualityFlag", "Passed"), ("AutomaticQualityFlagExplanation", QUALITY_EXPLANATION)]
    container = [("ParameterName", "Corrected Radiance at Sensor"), ("QAStats", stats), ("QAFlags", flags)]
    return [("MeasuredParameterContainer", container)]


def _granule_tree(
    plan: AsterPlan,
    clouds: Mapping[str, float],
    corners: list[list[float]],
    files: Mapping[str, tuple[int, str]],
) -> Tree:
    """The content of ``GranuleURMetaData`` as nested (tag, text or children) pairs."""
    stamp = f"{plan.production_time:%Y-%m-%d %H:%M:%S}.000"
    t = plan.sensing_time
    points = [("Point", [("PointLongitude", str(x)), ("PointLatitude", str(y))]) for x, y in corners]
    size_mb = sum(size for size, _ in files.values()) / 1e6
    granule = [("SizeMBECSDataGranule", f"{size_mb:.3f}"), ("ReprocessingActual", "processed once")]
    granule += [("LocalGranuleID", plan.file_stem), ("DayNightFlag", "Day"), ("ProductionDateTime", stamp)]
    spatial = [("HorizontalSpatialDomainContainer", [("GPolygon", [("Boundary", points)])])]
    psas = [("PSA", [("PSAName", name), ("PSAValue", value)]) for name, value in _psas(plan, clouds)]
    browse = f"{ECS_SERVER}:24:BR:Browse.001:{plan.db_id + 11}"
    qa = f"{ECS_SERVER}:20:QA:QA.001:{plan.db_id + 24}"
    return [
        ("GranuleUR", f"SC:AST_L1T.003:{plan.db_id}"),
        ("DbID", str(plan.db_id)),
        ("InsertTime", stamp),
        ("LastUpdate", stamp),
        ("CollectionMetaData", [("ShortName", "AST_L1T"), ("VersionID", "3")]),
        ("DataFiles", _data_files(files)),
        ("ECSDataGranule", granule),
        ("PGEVersionClass", [("PGEVersion", "1.0.0")]),
        ("SingleDateTime", [("TimeofDay", f"{t:%H:%M:%S.%f}"), ("CalendarDate", f"{t:%Y-%m-%d}")]),
        ("SpatialDomainContainer", spatial),
        ("MeasuredParameter", _measured_parameter(clouds)),
        ("PSAs", psas),
        ("InputGranule", [("InputPointer", f"ASTL1A {t:%y%m%d%H%M%S}{plan.db_id % 10**10:010d}")]),
        ("BrowseProduct", [("BrowseGranuleId", browse)]),
        ("QAProduct", [("QAGranuleId", qa)]),
    ]


def _build(parent: ET.Element, tree: Tree) -> None:
    for tag, content in tree:
        child = ET.SubElement(parent, tag)
        if isinstance(content, str):
            child.text = content
        else:
            _build(child, content)


def aster_xml(
    plan: AsterPlan,
    grid: SceneGrid,
    clouds: Mapping[str, float],
    files: Mapping[str, tuple[int, str]],
) -> str:
    """The ECS ``.hdf.xml`` text of one scene (readable by ``aster.parse_gains`` and friends).

    Args:
        plan: the ASTER plan (times, gains, sun, pointing, ids).
        grid: the scene grid, whose corners are the ``GPolygon`` (NW, NE, SE, SW).
        clouds: ``cloud_covers`` of the date's layers.
        files: file name -> (size in bytes, MD5 hex) of the written COGs.

    Returns:
        The XML document, with the declaration and DOCTYPE of the real files.
    """
    xmin, ymin, xmax, ymax = grid.bbox
    corners = to_wgs84([(xmin, ymax), (xmax, ymax), (xmax, ymin), (xmin, ymin)], grid.epsg)
    root = ET.Element("GranuleMetaDataFile")
    _build(root, [("DTDVersion", "1.0"), ("DataCenterId", "EDC")])
    _build(ET.SubElement(root, "GranuleURMetaData"), _granule_tree(plan, clouds, corners, files))
    ET.indent(root, space="    ")
    return XML_HEADER + ET.tostring(root, encoding="unicode") + "\n"
