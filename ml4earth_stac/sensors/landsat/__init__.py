"""Landsat Collection 2 Level-2: band tables, asset keys, SR/ST decoding, QA_PIXEL and QA_RADSAT masks.

Facts and sources: ``shared/SENSORS.md`` section 2 (bands, scale/offset/fill, QA bits, SLC-off) and section 6
(the usual decoding mistakes this module guards against: Collection-1 scaling on C2 data (#5), Collection-1
QA bits or trusting the ``clear`` bit to exclude shadows (#6), fill values treated as data (#10)).

Bands have sensor-neutral names (``red``, ``nir08``, ``lwir11``...) that are also their asset keys on
Planetary Computer, Earth Search and current USGS items; the instrument band number differs by sensor
(``red`` is B4 on OLI, B3 on TM/ETM+). Every array function works on numpy arrays, dask arrays and xarray
DataArrays; dask-backed input stays lazy (decoding, masks) or is reduced chunk by chunk (the fractions).

The package is split by job; import everything from here (``from ml4earth_stac.sensors import landsat``):

- ``_constants``: band tables per instrument, SR/ST scale and offset, fills, QA_PIXEL/QA_RADSAT bit tables;
- ``_decode``: SR/ST DN -> reflectance/temperature;
- ``_qa``: QA_PIXEL masks and fractions, QA_RADSAT saturation;
- ``_metadata``: item parsing (platform, instrument, bands, SLC-off, scale/offset, asset keys, provider).
"""

from ml4earth_stac.sensors._bands import REFLECTANCE_UNITS
from ml4earth_stac.sensors.landsat._constants import (
    BANDS_BY_INSTRUMENT,
    CLOUD_FLAGS,
    DEFAULT_MASKED_FLAGS,
    ETM_BANDS,
    INSTRUMENTS,
    NODATA_DN,
    NON_SPECTRAL_ASSET_KEYS,
    OLI_TIRS_BANDS,
    PLATFORM_FIELDS,
    PROVIDERS,
    QA_FILL,
    QA_PIXEL_CONFIDENCES,
    QA_PIXEL_FLAGS,
    QA_RADSAT_BITS,
    RADSAT_FLAGS,
    SLC_FAILURE_DATE,
    SR_OFFSET,
    SR_SCALE,
    ST_OFFSET,
    ST_SCALE,
    TEMPERATURE_UNITS,
    TM_BANDS,
    ArrayT,
    BandKind,
    Instrument,
    LandsatBand,
    Provider,
)
from ml4earth_stac.sensors.landsat._decode import decode_reflectance, decode_temperature
from ml4earth_stac.sensors.landsat._metadata import (
    asset_key,
    asset_keys,
    band_info,
    bands_for,
    detect_provider,
    find_asset_key,
    instrument_of,
    platform_of,
    scale_offset_from_item,
    slc_off,
)
from ml4earth_stac.sensors.landsat._qa import (
    cloud_fraction,
    qa_flags,
    qa_mask,
    radsat_flags,
    saturated_mask,
    valid_fraction,
)

__all__ = [
    "BANDS_BY_INSTRUMENT",
    "CLOUD_FLAGS",
    "DEFAULT_MASKED_FLAGS",
    "ETM_BANDS",
    "INSTRUMENTS",
    "NODATA_DN",
    "NON_SPECTRAL_ASSET_KEYS",
    "OLI_TIRS_BANDS",
    "PLATFORM_FIELDS",
    "PROVIDERS",
    "QA_FILL",
    "QA_PIXEL_CONFIDENCES",
    "QA_PIXEL_FLAGS",
    "QA_RADSAT_BITS",
    "RADSAT_FLAGS",
    "REFLECTANCE_UNITS",
    "SLC_FAILURE_DATE",
    "SR_OFFSET",
    "SR_SCALE",
    "ST_OFFSET",
    "ST_SCALE",
    "TEMPERATURE_UNITS",
    "TM_BANDS",
    "ArrayT",
    "BandKind",
    "Instrument",
    "LandsatBand",
    "Provider",
    "asset_key",
    "asset_keys",
    "band_info",
    "bands_for",
    "cloud_fraction",
    "decode_reflectance",
    "decode_temperature",
    "detect_provider",
    "find_asset_key",
    "instrument_of",
    "platform_of",
    "qa_flags",
    "qa_mask",
    "radsat_flags",
    "saturated_mask",
    "scale_offset_from_item",
    "slc_off",
    "valid_fraction",
]
