"""ASTER L1T (Planetary Computer ``aster-l1t``): band table, gains, DN -> radiance -> TOA reflectance.

Facts: ``shared/SENSORS.md`` section 4 (layout, UCC and ESUN tables, SWIR failure), ``shared/STACK-NOTES.md``.
PC serves a scene as three multi-band COGs, ``VNIR`` (bands 1, 2, 3N; uint8; 15 m), ``SWIR`` (4-9; uint8;
30 m) and ``TIR`` (10-14; uint16; 90 m), nodata 0, with no gain or scale in STAC: the gains are only in the
``xml`` asset (ECS ``.hdf.xml``, PSA ``ASTERGains``; see ``parse_gains``).

Multi-band assets, a deliberate decision: stackstac 0.5.1 rejects assets with several ``raster:bands`` and
files with several bands; odc-stac reads ``VNIR.1``... ``split_multiband_item`` adds one virtual asset per
band, keyed by band name (``B01``, ``B3N``, ``B14``), with the parent's href, the band's own ``eo:bands`` and
``raster:bands`` entry and its 1-based index in ``ml4earth:band_index``. A reader opens that band with
rasterio ``read(indexes=i)`` or as GDAL's ``vrt://<path>?bands=<i>`` (``vrt:///vsicurl/https://...`` for
http), a 1-band dataset as stackstac's reader requires (checked with rasterio, not yet through stackstac).
GDAL cuts a vrt:// string at its first ``?``: a signed href (query string) cannot be wrapped that way.
The multi-band assets stay for odc-stac.

Pixel functions take numpy, dask or xarray input; dask-backed input stays lazy.

The package is split by job; import everything from here (``from ml4earth_stac.sensors import aster``):

- ``_bands``: the band table and lookup, gain codes, UCC and ESUN tables, field names and constants;
- ``_radiometry``: DN -> radiance -> TOA reflectance, Earth-Sun distance;
- ``_metadata``: parsing the ECS ``.hdf.xml`` (gains, acquisition time) and date values;
- ``_items``: provider layout, usable bands (SWIR failure), ``split_multiband_item``.
"""

from ml4earth_stac.sensors._bands import REFLECTANCE_UNITS, Provider
from ml4earth_stac.sensors.aster._bands import (
    BAND_INDEX_FIELD,
    BANDS,
    BANDS_BY_NAME,
    ESUN,
    GAINS,
    NODATA_DN,
    RADIANCE_UNITS,
    SOURCE_ASSET_FIELD,
    SUBSYSTEMS,
    SWIR_BANDS,
    SWIR_FAILURE_DATE,
    UCC,
    AsterBand,
    Gain,
    Subsystem,
    band,
    band_asset,
)
from ml4earth_stac.sensors.aster._items import (
    BandSelection,
    detect_provider,
    split_multiband_item,
    swir_usable,
    usable_bands,
)
from ml4earth_stac.sensors.aster._metadata import parse_acquisition_datetime, parse_gains
from ml4earth_stac.sensors.aster._radiometry import (
    ArrayT,
    dn_to_radiance,
    earth_sun_distance_au,
    toa_reflectance,
)

__all__ = [
    "BAND_INDEX_FIELD",
    "BANDS",
    "BANDS_BY_NAME",
    "ESUN",
    "GAINS",
    "NODATA_DN",
    "RADIANCE_UNITS",
    "REFLECTANCE_UNITS",
    "SOURCE_ASSET_FIELD",
    "SUBSYSTEMS",
    "SWIR_BANDS",
    "SWIR_FAILURE_DATE",
    "UCC",
    "ArrayT",
    "AsterBand",
    "BandSelection",
    "Gain",
    "Provider",
    "Subsystem",
    "band",
    "band_asset",
    "detect_provider",
    "dn_to_radiance",
    "earth_sun_distance_au",
    "parse_acquisition_datetime",
    "parse_gains",
    "split_multiband_item",
    "swir_usable",
    "toa_reflectance",
    "usable_bands",
]
