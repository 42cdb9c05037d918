"""One adapter per sensor: what the loader and the store need to know, built on the sensor modules.

The loader stays sensor-neutral: it stacks the bands and a *mask asset* (SCL, QA_PIXEL, or for SAR the
first polarisation itself) onto the grid, then asks the adapter to decode the bands into physical
values, to say which pixels are masked, and which per-scene facts to record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import numpy as np
import xarray as xr

from ml4earth_stac.errors import RecipeError, SceneSkipped, SourceError
from ml4earth_stac.sensors import aster, landsat, sentinel1, sentinel2
from ml4earth_stac.sensors._bands import Provider

TextReader = Callable[[str, str], str]
"""``read_text(asset_key, href) -> text`` of a small metadata asset (raises SceneSkipped when unreadable)."""
ASTER_GAINS_FIELD: Final = "ml4earth:aster_gains"


@dataclass(frozen=True)
class BandMeta:
    """What a cube and its STAC record say about one band."""

    name: str
    common_name: str | None
    center_wavelength: float | None
    full_width_half_max: float | None


class SensorAdapter(Protocol):
    """The sensor-specific part of loading one scene."""

    sensor: str
    variable: str
    long_name: str
    units: str
    raw_dtype: str
    mask_variable: str | None
    mask_dtype: str
    mask_fill: float

    def collections(self, provider: Provider) -> tuple[str, ...]:
        """STAC collection ids this adapter can decode for a provider."""
        ...

    def expand(self, item: dict[str, Any], read_text: TextReader) -> dict[str, Any]:
        """The item as the loader needs it (e.g. one asset per band, gains from a metadata asset)."""
        ...

    def asset_key(self, band: str, provider: Provider) -> str:
        """The provider's asset key of a band."""
        ...

    def mask_asset_key(self, provider: Provider) -> str:
        """The asset read (nearest neighbour) to measure valid/cloudy pixels."""
        ...

    def band(self, name: str) -> BandMeta:
        """Metadata of one band (raises RecipeError for unknown bands)."""
        ...

    def scene_facts(self, properties: Mapping[str, Any]) -> dict[str, Any]:
        """Per-scene facts recorded beside the time coordinate (raises SourceError if unusable)."""
        ...

    def decode(self, raw: xr.DataArray, facts: Mapping[str, Any]) -> xr.DataArray:
        """Raw (band, y, x) pixels -> physical float32 values, NaN where nodata."""
        ...

    def masked(self, mask_plane: np.ndarray) -> np.ndarray:
        """True where a pixel is nodata, cloud, shadow or otherwise unusable."""
        ...

    def mask_attributes(self) -> dict[str, Any]:
        """CF attributes of the stored mask variable (long_name, flag_values/flag_masks...)."""
        ...

    def fractions(self, mask_plane: np.ndarray) -> tuple[float, float]:
        """(valid fraction over the grid, cloud fraction over the valid pixels)."""
        ...


@dataclass(frozen=True)
class Sentinel2Adapter:
    """Sentinel-2 L2A: reflectance by processing baseline, masks from SCL."""

    masked_classes: tuple[int, ...] = sentinel2.DEFAULT_MASKED_SCL_CLASSES
    sensor: str = "sentinel-2"
    variable: str = "reflectance"
    long_name: str = "surface reflectance (BOA), scale and offset applied, cloud-masked from SCL"
    units: str = "1"
    raw_dtype: str = "uint16"
    mask_variable: str | None = "scl"
    mask_dtype: str = "uint8"
    mask_fill: float = 0  # SCL 0 = no data

    def collections(self, provider: Provider) -> tuple[str, ...]:
        return {
            "planetary-computer": ("sentinel-2-l2a",),
            "earth-search": ("sentinel-2-l2a", "sentinel-2-c1-l2a"),
        }[provider]

    def expand(self, item: dict[str, Any], read_text: TextReader) -> dict[str, Any]:
        return item

    def asset_key(self, band: str, provider: Provider) -> str:
        return sentinel2.asset_key(band, provider)

    def mask_asset_key(self, provider: Provider) -> str:
        return sentinel2.asset_key("SCL", provider)

    def band(self, name: str) -> BandMeta:
        info = sentinel2.BANDS_BY_NAME.get(name)
        if info is None:
            raise RecipeError(
                f"unknown Sentinel-2 band {name!r}; use one of {sorted(sentinel2.BANDS_BY_NAME)}"
            )
        return BandMeta(info.name, info.common_name, info.center_wavelength, info.full_width_half_max)

    def scene_facts(self, properties: Mapping[str, Any]) -> dict[str, Any]:
        baseline = "{:02d}.{:02d}".format(*sentinel2.processing_baseline(properties))
        return {"processing_baseline": baseline, "boa_offset": sentinel2.reflectance_offset(properties)}

    def decode(self, raw: xr.DataArray, facts: Mapping[str, Any]) -> xr.DataArray:
        return sentinel2.decode_reflectance(raw, facts["boa_offset"])

    def masked(self, mask_plane: np.ndarray) -> np.ndarray:
        return np.asarray(sentinel2.scl_mask(mask_plane, self.masked_classes))

    def mask_attributes(self) -> dict[str, Any]:
        meanings = (v.replace(" ", "_").replace(",", "") for v in sentinel2.SCL_CLASSES.values())
        return {
            "long_name": "Sentinel-2 scene classification (SCL), nearest-neighbour on the grid",
            "flag_values": list(sentinel2.SCL_CLASSES),
            "flag_meanings": " ".join(meanings),
        }

    def fractions(self, mask_plane: np.ndarray) -> tuple[float, float]:
        valid = sentinel2.valid_fraction(mask_plane, masked_classes=(sentinel2.SCL_NODATA,))
        return valid, sentinel2.cloud_fraction(mask_plane)


@dataclass(frozen=True)
class Sentinel1RtcAdapter:
    """Sentinel-1 RTC: gamma0 resampled in linear power on the grid, then converted to dB with a floor.

    GRD is not loaded here: it has no geotransform and must be warped by its GCPs
    (:func:`ml4earth_stac.sensors.sentinel1.warp_grd_to_grid`); stackstac cannot do that.
    """

    floor_db: float = sentinel1.DEFAULT_FLOOR_DB
    sensor: str = "sentinel-1"
    variable: str = "backscatter"
    long_name: str = "terrain-flattened gamma0 (RTC), resampled in linear power, then 10*log10"
    units: str = sentinel1.DB_UNITS
    raw_dtype: str = "float32"
    mask_variable: str | None = None
    mask_dtype: str = "float32"
    mask_fill: float = float("nan")

    def collections(self, provider: Provider) -> tuple[str, ...]:
        return {"planetary-computer": ("sentinel-1-rtc",), "earth-search": ()}[provider]

    def expand(self, item: dict[str, Any], read_text: TextReader) -> dict[str, Any]:
        return item

    def asset_key(self, band: str, provider: Provider) -> str:
        self.band(band)
        return band

    def mask_asset_key(self, provider: Provider) -> str:
        return "vv"  # nodata of the co-polarisation marks the swath; SAR sees through clouds

    def band(self, name: str) -> BandMeta:
        if name not in sentinel1.POLARISATIONS_BY_KEY:
            raise RecipeError(
                f"unknown Sentinel-1 polarisation {name!r}; use {sorted(sentinel1.POLARISATIONS_BY_KEY)}"
            )
        return BandMeta(name, None, None, None)

    def scene_facts(self, properties: Mapping[str, Any]) -> dict[str, Any]:
        return {"orbit_state": str(properties.get("sat:orbit_state", ""))}

    def decode(self, raw: xr.DataArray, facts: Mapping[str, Any]) -> xr.DataArray:
        # the reader already turned nodata (-32768) into NaN; averaging happened in linear power
        return sentinel1.to_db(raw, floor_db=self.floor_db, nodata=None)

    def masked(self, mask_plane: np.ndarray) -> np.ndarray:
        return ~np.isfinite(mask_plane) | (mask_plane == sentinel1.RTC_NODATA)

    def mask_attributes(self) -> dict[str, Any]:
        return {}

    def fractions(self, mask_plane: np.ndarray) -> tuple[float, float]:
        return float(np.mean(~self.masked(mask_plane))), 0.0


@dataclass(frozen=True)
class LandsatAdapter:
    """Landsat Collection 2 Level-2 surface reflectance (4, 5, 7, 8, 9), masked from QA_PIXEL bits.

    Landsat 7 SLC-off gaps are SR fill (0) and QA fill: they become NaN like any other nodata.
    """

    sensor: str = "landsat"
    variable: str = "reflectance"
    long_name: str = (
        "surface reflectance (Collection 2 Level-2), scale and offset applied, masked from QA_PIXEL"
    )
    units: str = "1"
    raw_dtype: str = "uint16"
    mask_variable: str | None = "qa_pixel"
    mask_dtype: str = "uint16"
    mask_fill: float = landsat.QA_FILL  # outside the scene is fill, not "no flags set"

    def collections(self, provider: Provider) -> tuple[str, ...]:
        return ("landsat-c2-l2",)

    def expand(self, item: dict[str, Any], read_text: TextReader) -> dict[str, Any]:
        return item

    def asset_key(self, band: str, provider: Provider) -> str:
        self.band(band)
        return landsat.asset_key(band, provider)

    def mask_asset_key(self, provider: Provider) -> str:
        return "qa_pixel"

    def band(self, name: str) -> BandMeta:
        for platform in (8, 7):  # OLI first (has coastal), then ETM+ wavelengths
            try:
                info = landsat.band_info(name, platform)
            except Exception:  # noqa: BLE001 - not a band of this instrument; try the next
                continue
            if info.kind != "reflectance":
                raise RecipeError(
                    f"Landsat band {name!r} is surface temperature; only reflectance bands load yet"
                )
            return BandMeta(info.name, info.common_name, info.center_wavelength, None)
        raise RecipeError(f"unknown Landsat band {name!r}; use e.g. blue, green, red, nir08, swir16, swir22")

    def scene_facts(self, properties: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "landsat_platform": float(landsat.platform_of(properties)),
            "slc_off": "yes" if landsat.slc_off(properties) else "no",
        }

    def decode(self, raw: xr.DataArray, facts: Mapping[str, Any]) -> xr.DataArray:
        return landsat.decode_reflectance(raw)

    def masked(self, mask_plane: np.ndarray) -> np.ndarray:
        return np.asarray(landsat.qa_mask(mask_plane))

    def mask_attributes(self) -> dict[str, Any]:
        flags = landsat.QA_PIXEL_FLAGS
        return {
            "long_name": "Landsat Collection 2 QA_PIXEL bit flags, nearest-neighbour on the grid",
            "flag_masks": [1 << bit for bit in flags.values()],
            "flag_meanings": " ".join(flags),
        }

    def fractions(self, mask_plane: np.ndarray) -> tuple[float, float]:
        return landsat.valid_fraction(mask_plane, masked=("fill",)), landsat.cloud_fraction(mask_plane)


@dataclass(frozen=True)
class AsterAdapter:
    """ASTER L1T VNIR/SWIR: DN -> radiance with each band's gain -> top-of-atmosphere reflectance.

    Planetary Computer serves multi-band COGs: :meth:`expand` adds one virtual asset per band (read by
    band index) and reads the gains from the item's ``xml`` asset. L1T has no cloud mask: the scene's
    ``eo:cloud_cover`` filters at search time, and the cloud fraction per pixel is not known (0). SWIR
    bands of acquisitions from 2008-04-23 on (detector failure) are NaN. TIR (radiance) is not loaded.
    """

    sensor: str = "aster"
    variable: str = "reflectance"
    long_name: str = (
        "top-of-atmosphere reflectance from L1T DN (per-band gain from the ECS metadata, ESUN, sun "
        "elevation, Earth-Sun distance); no cloud mask"
    )
    units: str = "1"
    raw_dtype: str = "uint8"
    mask_variable: str | None = None
    mask_dtype: str = "uint8"
    mask_fill: float = aster.NODATA_DN

    def collections(self, provider: Provider) -> tuple[str, ...]:
        return {"planetary-computer": ("aster-l1t",), "earth-search": ()}[provider]

    def expand(self, item: dict[str, Any], read_text: TextReader) -> dict[str, Any]:
        item_id = str(item.get("id", "<no id>"))
        try:
            expanded = aster.split_multiband_item(item)
        except SourceError as exc:
            raise SceneSkipped(item_id, "bad-metadata", str(exc)) from exc
        xml = expanded["assets"].get("xml")
        if not isinstance(xml, Mapping) or not xml.get("href"):
            raise SceneSkipped(
                item_id, "missing-band", "asset 'xml' (ECS metadata with the band gains) is absent"
            )
        try:
            gains = aster.parse_gains(read_text("xml", str(xml["href"])), source=f"item {item_id} asset xml")
        except SourceError as exc:
            raise SceneSkipped(item_id, "bad-metadata", str(exc)) from exc
        expanded["properties"] = {**expanded.get("properties", {}), ASTER_GAINS_FIELD: gains}
        return expanded

    def asset_key(self, band: str, provider: Provider) -> str:
        return self.band(band).name

    def mask_asset_key(self, provider: Provider) -> str:
        return "B01"  # DN 0 of the first VNIR band marks no data; L1T has no QA or cloud mask

    def band(self, name: str) -> BandMeta:
        record = aster.BANDS_BY_NAME.get(name)
        if record is None:
            raise RecipeError(f"unknown ASTER band {name!r}; use one of {sorted(aster.BANDS_BY_NAME)}")
        if record.subsystem == "TIR":
            raise RecipeError(f"ASTER band {name!r} is thermal (radiance); only VNIR and SWIR bands load yet")
        return BandMeta(record.name, record.common_name, record.center_wavelength, record.full_width_half_max)

    def scene_facts(self, properties: Mapping[str, Any]) -> dict[str, Any]:
        gains = properties.get(ASTER_GAINS_FIELD)
        if not isinstance(gains, Mapping):
            raise SourceError("the band gains were not read from the xml asset (AsterAdapter.expand)")
        if "view:sun_elevation" not in properties:
            raise SourceError("property view:sun_elevation is missing; TOA reflectance needs it")
        return {
            "gains": " ".join(f"{band}:{gain}" for band, gain in sorted(gains.items())),
            "sun_elevation": float(properties["view:sun_elevation"]),
            "earth_sun_distance": aster.earth_sun_distance_au(properties["datetime"]),
            "swir_usable": "yes" if aster.swir_usable(properties["datetime"]) else "no",
        }

    def decode(self, raw: xr.DataArray, facts: Mapping[str, Any]) -> xr.DataArray:
        gains = dict(pair.split(":") for pair in str(facts["gains"]).split())
        planes = []
        for name in [str(b) for b in raw["band"].values]:
            dn = raw.sel(band=name)
            if name in aster.SWIR_BANDS and facts["swir_usable"] != "yes":
                planes.append(xr.full_like(dn, np.nan, dtype=np.float32))
                continue
            radiance = aster.dn_to_radiance(dn, name, gains.get(name))  # type: ignore[arg-type]
            sun, distance = float(facts["sun_elevation"]), float(facts["earth_sun_distance"])
            planes.append(aster.toa_reflectance(radiance, name, sun, distance))
        return xr.concat(planes, dim="band").astype(np.float32)

    def masked(self, mask_plane: np.ndarray) -> np.ndarray:
        return ~np.isfinite(mask_plane) | (mask_plane == aster.NODATA_DN)

    def mask_attributes(self) -> dict[str, Any]:
        return {}

    def fractions(self, mask_plane: np.ndarray) -> tuple[float, float]:
        return float(np.mean(~self.masked(mask_plane))), 0.0


SENSORS: Final = ("sentinel-2", "landsat", "sentinel-1", "aster")


def adapter_for(sensor: str, options: Mapping[str, Any] | None = None) -> SensorAdapter:
    """The adapter of a sensor named in a recipe.

    Args:
        sensor: e.g. ``sentinel-2``.
        options: sensor-specific settings from the recipe (e.g. ``masked_scl_classes``).

    Raises:
        RecipeError: the sensor is unknown.
    """
    options = dict(options or {})
    if sensor == "sentinel-2":
        classes = options.get("masked_scl_classes", sentinel2.DEFAULT_MASKED_SCL_CLASSES)
        return Sentinel2Adapter(masked_classes=tuple(classes))
    if sensor == "sentinel-1":
        return Sentinel1RtcAdapter()
    if sensor == "landsat":
        return LandsatAdapter()
    if sensor == "aster":
        return AsterAdapter()
    raise RecipeError(f"unknown sensor {sensor!r}; known sensors: {list(SENSORS)}")


def check_collection(adapter: SensorAdapter, provider: Provider, collection: str) -> None:
    """Raise RecipeError when a collection is not one the adapter decodes for that provider."""
    known = adapter.collections(provider)
    if collection not in known:
        raise RecipeError(
            f"collection {collection!r} is unknown for {adapter.sensor} at {provider}; "
            f"known collections: {list(known)}"
        )


def check_provider(adapter: SensorAdapter, provider: Provider, item: Mapping[str, Any]) -> None:
    """Raise SourceError when an item follows another provider's conventions than the recipe says."""
    detectors = {"sentinel-2": sentinel2.detect_provider, "aster": aster.detect_provider}
    detect = detectors.get(adapter.sensor)
    detected = detect(item) if detect else provider
    if detected != provider:
        raise SourceError(
            f"item {item.get('id')} follows {detected} conventions but the recipe's source says {provider}; "
            "set source.provider to match the STAC API"
        )
