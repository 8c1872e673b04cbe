"""Fixtures: the API stand-in with the Role from k8s/rbac.yaml, a kubeconfig, a driver."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gameday.targets.kubernetes import KubernetesDriver

from .standin import Cluster, StandIn, kubeconfig, rules_from_role

REPO = Path(__file__).resolve().parents[2]
NS = "payments-staging"


def role_doc() -> dict[str, Any]:
    """The Role of k8s/rbac.yaml."""
    docs = yaml.safe_load_all((REPO / "k8s" / "rbac.yaml").read_text())
    return next(d for d in docs if d and d["kind"] == "Role")


def seed(c: Cluster, staging: bool = True) -> None:
    """The payment platform of k8s/payments.yaml, in miniature."""
    c.add_namespace(NS, {"gameday.dev/environment": "staging"} if staging else {})
    name = "app.kubernetes.io/name"
    c.add_deployment(
        "db-primary",
        {name: "db-primary"},
        1,
        "postgres:16",
        {"group.gameday.dev/site-a": "", "group.gameday.dev/databases": ""},
        kind="StatefulSet",
    )
    c.add_deployment(
        "db-standby",
        {name: "db-standby"},
        1,
        "postgres:16",
        {"group.gameday.dev/site-b": "", "group.gameday.dev/databases": ""},
        kind="StatefulSet",
    )
    c.add_deployment(
        "api-a",
        {name: "api-a"},
        4,
        pod_labels={"group.gameday.dev/site-a": "", "group.gameday.dev/apis": ""},
    )
    c.add_deployment(
        "api-b",
        {name: "api-b"},
        2,
        pod_labels={"group.gameday.dev/site-b": "", "group.gameday.dev/apis": ""},
    )
    c.add_deployment("gateway", {name: "gateway"}, 2, "registry.example/gateway:v1")


@pytest.fixture
def make_env(tmp_path: Path) -> Iterator[Any]:
    """Build (cluster, server, driver) with options; everything is stopped afterwards."""
    made: list[tuple[StandIn, KubernetesDriver]] = []

    def make(
        *,
        rollouts: bool = False,
        chaos: bool = False,
        staging: bool = True,
        rules: Any = "role",
        scenario_staging: bool = False,
    ) -> tuple[Cluster, StandIn, KubernetesDriver]:
        c = Cluster(
            NS,
            rules=rules_from_role(role_doc()) if rules == "role" else rules,
            rollouts=rollouts,
            chaos=chaos,
        )
        seed(c, staging)
        server = StandIn(c).start()
        path = tmp_path / f"kubeconfig-{len(made)}"
        path.write_text(yaml.safe_dump(kubeconfig(server.url, NS)))
        driver = KubernetesDriver(
            NS,
            context="standin",
            url="http://gateway:8080",
            kubeconfig=str(path),
            staging=scenario_staging,
            wait_s=5.0,
        )
        driver.bind_run("drill-x-20260101T000000Z-abcd", "drill-x")
        made.append((server, driver))
        return c, server, driver

    yield make
    for server, driver in made:
        driver.close()
        server.stop()
