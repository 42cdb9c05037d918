"""Sentinel-1: polarisation assets, RTC gamma0 in dB, GRD DN calibration and GCP warping (pure functions).

Facts and sources: ``shared/SENSORS.md`` section 3 (PC ``sentinel-1-rtc``, PC/ES ``sentinel-1-grd``) and
section 6 (mistakes 7, 8 and 9: loading GRD as if georeferenced, trusting item proj metadata of reprocessed
RTC, averaging SAR in dB).

Two products, two very different things:

- **RTC** (PC ``sentinel-1-rtc``): terrain-flattened gamma0, **linear power**, float32, nodata -32768, on a
  north-up UTM grid. Average, resample and aggregate in linear power; convert to dB with ``to_db`` last,
  for display or thresholds only (SENSORS.md 6, mistake 9). The AWS/Indigo RTC tiles (stactools
  ``sentinel1-rtc-aws``) are also linear gamma0 but use asset keys ``gamma0_vv``... and nodata 0.
- **GRD** (PC and ES ``sentinel-1-grd``): detected **amplitude** DN, uint16, 0 = no data, in radar
  geometry: a grid of GCPs in EPSG:4326 and no geotransform. The ``proj:epsg 4326`` + ``proj:transform``
  that stactools/Earth Search publish are derived from the bbox and are not a georeference
  (``has_valid_georeference`` says so); GRD is always warped by its GCPs (``warp_grd_to_grid``).

Limits of GRD handled here (``calibrate_grd`` + ``warp_grd_to_grid``), to be stated wherever GRD-derived
values are published:

- no terrain correction: foreshortening and layover remain, with a terrain modulation of about +-5 dB on
  fjord walls and valley sides (use RTC where terrain matters);
- geolocation from the GCPs only (ellipsoid + coarse height): errors of tens of metres in steep terrain;
- no thermal noise removal unless the noise LUT (``schema-noise-*``) is given as ``noise_power``;
- one calibration constant instead of the ``sigmaNought`` LUT of ``schema-calibration-*`` (interpolated
  per pixel) is an approximation; pass the interpolated LUT as an array for exact sigma0.

The package is split by job; import everything from here (``from ml4earth_stac.sensors import sentinel1``):

- ``_constants``: polarisations and asset keys, collections, nodata, dtypes, units;
- ``_metadata``: item parsing (polarisations, asset keys, RTC or GRD, provider, RTC nodata, georeference);
- ``_radiometry``: linear power <-> dB, GRD DN -> sigma0 calibration;
- ``_georeference``: GRD GCPs and GCP warping onto a north-up grid.
"""

from ml4earth_stac.sensors._bands import Provider
from ml4earth_stac.sensors.sentinel1._constants import (
    AWS_RTC_ASSET_PREFIX,
    DB_UNITS,
    DEFAULT_FLOOR_DB,
    GRD_COLLECTIONS,
    GRD_DTYPE,
    GRD_NODATA,
    LINEAR_UNITS,
    POLARISATIONS,
    POLARISATIONS_BY_KEY,
    RTC_COLLECTIONS,
    RTC_DTYPE,
    RTC_ID_SUFFIX,
    RTC_NODATA,
    Polarisation,
    PolarisationInfo,
    ProductKind,
)
from ml4earth_stac.sensors.sentinel1._georeference import (
    GcpGeoreference,
    WarpedGrd,
    grd_gcps,
    warp_grd_to_grid,
)
from ml4earth_stac.sensors.sentinel1._metadata import (
    asset_key,
    asset_keys,
    detect_provider,
    has_valid_georeference,
    polarisations,
    product_kind,
    rtc_nodata,
)
from ml4earth_stac.sensors.sentinel1._radiometry import ArrayT, calibrate_grd, from_db, to_db

__all__ = [
    "AWS_RTC_ASSET_PREFIX",
    "DB_UNITS",
    "DEFAULT_FLOOR_DB",
    "GRD_COLLECTIONS",
    "GRD_DTYPE",
    "GRD_NODATA",
    "LINEAR_UNITS",
    "POLARISATIONS",
    "POLARISATIONS_BY_KEY",
    "RTC_COLLECTIONS",
    "RTC_DTYPE",
    "RTC_ID_SUFFIX",
    "RTC_NODATA",
    "ArrayT",
    "GcpGeoreference",
    "Polarisation",
    "PolarisationInfo",
    "ProductKind",
    "Provider",
    "WarpedGrd",
    "asset_key",
    "asset_keys",
    "calibrate_grd",
    "detect_provider",
    "from_db",
    "grd_gcps",
    "has_valid_georeference",
    "polarisations",
    "product_kind",
    "rtc_nodata",
    "to_db",
    "warp_grd_to_grid",
]
