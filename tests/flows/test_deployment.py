"""prefect.yaml: every deployment points at a real flow and its parameters fit the flow's signature."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from prefect.flows import load_flow_from_entrypoint

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENTS = yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["name"])
def test_deployment_entrypoint_and_parameters(deployment: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    flow = load_flow_from_entrypoint(deployment["entrypoint"])
    assert flow.name == "ingest-benchmark"
    bound = flow.validate_parameters(deployment["parameters"])
    assert (REPO / bound["recipe_path"]).is_file()
    for schedule in deployment.get("schedules", []):
        assert len(schedule["cron"].split()) == 5
