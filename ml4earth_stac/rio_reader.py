"""A stackstac reader with a fast path for assets already in the grid's CRS.

stackstac 0.5.1 reads every asset whose grid differs from the output grid through a GDAL ``WarpedVRT``,
even when only the pixel size differs (a 10 m band onto a 20 m grid in the same UTM zone). Warping
costs about twice a plain read and ignores the COG's overviews. :class:`SameCrsRioReader` reads such
assets with a resampled window read instead (GDAL picks the right overview when downsampling, as
``gdalwarp -ovr AUTO`` and odc-stac do) and falls back to stackstac's warping reader for assets in
another CRS or with a rotated geotransform, so reprojection is unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import rasterio
import rasterio.windows
from rasterio.windows import Window
from stackstac.rio_reader import AutoParallelRioReader


class SameCrsRioReader(AutoParallelRioReader):
    """stackstac reader: resampled window reads for same-CRS, north-up assets; warping otherwise."""

    def read(self, window: Window, **kwargs: Any) -> np.ndarray:
        """Read one output-grid window of the asset, as ``dtype`` with ``fill_value`` where nodata."""
        try:
            with self.gdal_env.open:
                source = rasterio.open(self.url, sharing=False)
        except Exception as exc:  # noqa: BLE001 - GDAL raises many types; stackstac's contract is RuntimeError
            raise RuntimeError(f"Error opening {self.url!r}: {exc!r}") from exc
        with source:
            if not self._same_crs_north_up(source):
                return super().read(window, **kwargs)
            try:
                with self.gdal_env.read:
                    data = self._window_read(source, window)
            except Exception as exc:  # noqa: BLE001
                raise RuntimeError(f"Error reading {window} from {self.url!r}: {exc!r}") from exc
        scale, offset = self.scale_offset
        if scale != 1:
            data = data * scale
        if offset != 0:
            data = data + offset
        return np.ma.filled(data, fill_value=self.fill_value).astype(self.dtype, copy=False)

    def _same_crs_north_up(self, source: rasterio.DatasetReader) -> bool:
        transform = source.transform
        return (
            source.count == 1
            and source.crs is not None
            and source.crs.to_epsg() == self.spec.epsg
            and transform.b == 0
            and transform.d == 0
            and transform.e < 0
        )

    def _window_read(self, source: rasterio.DatasetReader, window: Window) -> np.ma.MaskedArray:
        bounds = rasterio.windows.bounds(window, self.spec.transform)
        source_window = rasterio.windows.from_bounds(*bounds, transform=source.transform)
        inside = (
            source_window.col_off >= 0
            and source_window.row_off >= 0
            and source_window.col_off + source_window.width <= source.width
            and source_window.row_off + source_window.height <= source.height
        )
        return source.read(
            1,
            window=source_window,
            out_shape=(int(window.height), int(window.width)),
            resampling=self.resampling,
            masked=True,
            boundless=not inside,
            out_dtype=self.dtype,
        )
