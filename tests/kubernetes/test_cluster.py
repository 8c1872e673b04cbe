"""The library drills against a real cluster: only when KUBECONFIG is set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from gameday.scenarios.loader import load_scenario
from gameday.scenarios.model import KubernetesTarget
from gameday.targets.kubernetes import KubernetesDriver

from .conftest import REPO

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        not os.environ.get("KUBECONFIG"),
        reason="needs a real cluster: set KUBECONFIG (and apply k8s/ with `kubectl apply -k k8s/`)",
    ),
]
CM = next(d for d in yaml.safe_load_all((REPO / "k8s" / "drills-configmap.yaml").read_text()) if d)
SCENARIOS = sorted(n for n, t in CM["data"].items() if yaml.safe_load(t)["kind"] == "Scenario")


@pytest.mark.parametrize("name", SCENARIOS)
def test_library_drill_plans_applies_and_reverts(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text(CM["data"][name])
    scenario = load_scenario(path)
    assert isinstance(scenario.target, KubernetesTarget)
    driver = KubernetesDriver.from_model(scenario.target)
    driver.bind_run(f"pytest-{os.getpid()}", scenario.name)
    try:
        services = {s for f in scenario.faults for s in [getattr(f, "service", None)] if s}
        assert driver.preflight(services) == []
        for fault in scenario.faults:
            plan = driver.plan(fault)
            try:
                driver.apply(plan)
            finally:
                driver.revert(plan)
                driver.revert(plan)  # idempotent on the real API too
        assert driver.sweep(driver.run_id) == {
            "networkpolicies": [],
            "deployments": [],
            "chaos": [],
            "scaled": [],
        }
    finally:
        driver.close()
