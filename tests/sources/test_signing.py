"""Planetary Computer hrefs are signed at read time only: no token ever reaches published STAC."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import planetary_computer.sas
import pytest

from ml4earth_stac import pipeline
from ml4earth_stac.config import RunSettings
from ml4earth_stac.errors import SceneSkipped
from ml4earth_stac.sources.signing import sign_assets, signer_for
from tests.conftest import recipe_for_archive

TOKEN = "st=2026-11-24&se=2099-01-01&sp=rl&sig=SECRET-SAS-TOKEN"


def test_planetary_computer_blob_hrefs_get_a_token(
    monkeypatch: pytest.MonkeyPatch, reference_dir: Path
) -> None:
    item = json.loads(
        (
            reference_dir / "stac-items/planetary-computer/sentinel-2-l2a/"
            "S2B_MSIL2A_20220612T182919_R027_T24XWR_20220613T123251.json"
        ).read_text()
    )
    cache = {}
    expiry = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    url = planetary_computer.settings.Settings.get().sas_url
    cache[f"{url}/sentinel2l2a01/sentinel2-l2"] = planetary_computer.sas.SASToken(token=TOKEN, expiry=expiry)
    monkeypatch.setattr(planetary_computer.sas, "TOKEN_CACHE", cache)  # no network: a cached token
    signed = sign_assets(
        {"id": item["id"], "assets": {"B04": item["assets"]["B04"]}}, signer_for("planetary-computer")
    )
    assert signed["assets"]["B04"]["href"].endswith("?" + TOKEN)
    assert "?" not in item["assets"]["B04"]["href"], "the original item is untouched"
    local = {"id": "x", "assets": {"B04": {"href": "http://127.0.0.1:9/B04.tif"}}}
    assert sign_assets(local, signer_for("planetary-computer")) == local  # not a blob: unchanged
    assert sign_assets(local, signer_for("earth-search")) == local


def test_a_failing_token_service_skips_the_scene() -> None:
    def broken(href: str) -> str:
        raise ConnectionError("token service unreachable")

    with pytest.raises(SceneSkipped, match="could not be signed: token service unreachable") as skip:
        sign_assets(
            {"id": "s", "assets": {"B04": {"href": "https://a.blob.core.windows.net/c/x.tif"}}}, broken
        )
    assert skip.value.reason == "signing-failed"


def test_signed_hrefs_are_read_but_never_published(
    small_archive, small_archive_server, tmp_path, monkeypatch
) -> None:
    seen: list[str] = []

    def fake_signer(provider: str):
        def sign(href: str) -> str:
            seen.append(href)
            return f"{href}?{TOKEN}"  # the loopback file server ignores the query, like a valid SAS

        return sign

    monkeypatch.setattr(pipeline, "signer_for", fake_signer)
    report = pipeline.run_benchmark(
        recipe_for_archive(small_archive),
        RunSettings(output_dir=tmp_path, stac_api=small_archive_server.stac_api_url),
    )
    assert report.scenes_used > 0 and seen, "scenes were read through signed hrefs"
    published = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in {".json", ".yaml"}]
    assert published and not [p for p in published if "SECRET-SAS-TOKEN" in p.read_text()]
