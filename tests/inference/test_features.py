"""Per-pixel features: exact values on hand-made arrays, NaN handling, band checks, tile independence."""

from __future__ import annotations

import numpy as np
import pytest

from ml4earth_stac.inference.features import (
    TEXTURE_HALO,
    FeatureSpec,
    InferenceError,
    available_indices,
    common_names_for,
    compute_features,
    local_std,
    make_feature_spec,
    normalized_difference,
)

S2 = ["B02", "B03", "B04", "B08", "B11", "B12"]


def _image(blue: float, green: float, red: float, nir: float, swir16: float, swir22: float) -> np.ndarray:
    values = np.array([blue, green, red, nir, swir16, swir22], dtype="float32")
    return np.broadcast_to(values[:, None, None], (6, 3, 4)).copy()


def test_indices_are_exact_on_known_reflectance() -> None:
    features, names = compute_features(_image(0.05, 0.1, 0.1, 0.5, 0.3, 0.2), S2)
    assert names == (*S2, "ndvi", "ndwi", "ndsi", "nir_std5")
    assert features.shape == (10, 3, 4) and features.dtype == np.float32
    planes = dict(zip(names, features, strict=True))
    np.testing.assert_array_equal(planes["B08"], np.float32(0.5))
    np.testing.assert_allclose(planes["ndvi"], (0.5 - 0.1) / (0.5 + 0.1), rtol=1e-6)
    np.testing.assert_allclose(planes["ndwi"], (0.1 - 0.5) / (0.1 + 0.5), rtol=1e-6)
    np.testing.assert_allclose(planes["ndsi"], (0.1 - 0.3) / (0.1 + 0.3), rtol=1e-6)
    assert (planes["nir_std5"] == 0).all()  # a constant image has no texture, exactly


def test_normalized_difference_edge_cases() -> None:
    out = normalized_difference(np.array([0.0, 0.3, -0.05, np.nan]), np.array([0.0, 0.1, 0.06, 0.2]))
    assert out[0] == 0  # 0 / 0 -> 0, not NaN
    assert out[1] == pytest.approx(0.5)
    assert out[2] == -1  # negative BOA reflectance: clipped to [-1, 1] (raw value is -11)
    assert np.isnan(out[3])


def test_local_std_matches_a_brute_force_window_std_with_nans() -> None:
    rng = np.random.default_rng(3)
    band = rng.random((9, 11)).astype("float32")
    band[rng.random(band.shape) < 0.15] = np.nan
    expected = np.full(band.shape, np.nan)
    for y in range(band.shape[0]):
        for x in range(band.shape[1]):
            if np.isfinite(band[y, x]):
                window = band[max(0, y - 2) : y + 3, max(0, x - 2) : x + 3]
                expected[y, x] = np.nanstd(window.astype("float64"))
    np.testing.assert_allclose(local_std(band), expected, atol=1e-6)
    assert local_std(np.full((6, 6), 0.3, dtype="float32")).max() == 0


def test_nan_in_one_band_blanks_every_feature_of_that_pixel_only() -> None:
    image = np.random.default_rng(0).uniform(0.05, 0.5, (6, 8, 8)).astype("float32")
    image[2, 4, 4] = np.nan  # red only
    features, _ = compute_features(image, S2)
    assert np.isnan(features[:, 4, 4]).all()
    assert np.isfinite(np.delete(features.reshape(10, -1), 4 * 8 + 4, axis=1)).all()  # texture skips it


def test_missing_common_names_raise_a_clear_error() -> None:
    with pytest.raises(InferenceError, match=r"'ndsi' needs .*swir16.* lack \['swir16'\]"):
        make_feature_spec(["B02", "B03", "B04", "B08"])
    spec = make_feature_spec(["B02", "B03", "B04", "B08"], indices=("ndvi", "ndwi", "nir_std5"))
    assert spec.feature_names[-3:] == ("ndvi", "ndwi", "nir_std5")
    assert available_indices(["vv", "vh"]) == ()
    assert make_feature_spec(["vv", "vh"], indices=()).feature_names == ("vv", "vh")
    with pytest.raises(InferenceError, match="unknown indices"):
        make_feature_spec(S2, indices=("evi",))


def test_common_names_landsat_nir08_and_explicit_aster() -> None:
    landsat = ["blue", "green", "red", "nir08", "swir16", "swir22"]
    assert common_names_for(landsat) == tuple(landsat)
    assert make_feature_spec(landsat).index_inputs("ndvi") == ("nir08", "red")
    assert common_names_for(["B08", "B8A"]) == ("nir", "nir08")
    assert make_feature_spec(["B04", "B08", "B8A"], indices=("ndvi",)).index_inputs("ndvi") == ("B08", "B04")
    aster = make_feature_spec(["B01", "B02", "B3N"], ["green", "red", "nir08"], indices=("ndvi", "ndwi"))
    assert aster.index_inputs("ndwi") == ("B01", "B3N")


def test_spec_json_round_trip_and_image_shape_check() -> None:
    spec = make_feature_spec(S2)
    assert FeatureSpec.from_json(spec.to_json()) == spec
    with pytest.raises(InferenceError, match="6 bands"):
        spec.compute(np.zeros((5, 4, 4), dtype="float32"))


def test_a_strip_with_the_halo_equals_the_whole_image() -> None:
    spec = make_feature_spec(S2)
    image = np.random.default_rng(1).uniform(0.0, 0.6, (6, 20, 16)).astype("float32")
    whole = spec.compute(image)
    top, bottom = 7, 12
    strip = spec.compute(image[:, top - TEXTURE_HALO : bottom + TEXTURE_HALO])
    np.testing.assert_array_equal(strip[:, TEXTURE_HALO:-TEXTURE_HALO], whole[:, top:bottom])
