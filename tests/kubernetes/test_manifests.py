"""k8s/: every manifest validates against the Kubernetes schemas offline; RBAC is exact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gameday.scenarios.loader import load_document
from gameday.targets.kubernetes.api import CALLS_SEEN, PERMISSIONS

from .conftest import REPO, role_doc

K8S = REPO / "k8s"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
pytestmark = pytest.mark.kubernetes


def role_grants() -> set[tuple[str, str, str]]:
    """Every (apiGroup, resource, verb) the Role in k8s/rbac.yaml grants, expanded."""
    return {
        (g, r, v)
        for rule in role_doc()["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_validates_against_the_kubernetes_schema(path: Path) -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="dev dependency kubernetes-validate")
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs
    for doc in docs:
        # strict: unknown fields are errors too; the schemas ship inside the wheel (offline)
        kv.validate(doc, "1.33.0", strict=True)
        assert (
            doc["metadata"].get("namespace") in ("gameday", "payments-staging")
            or doc["kind"] == "Namespace"
        )


def test_kustomization_lists_every_manifest() -> None:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kust["resources"]) == sorted(p.name for p in MANIFESTS)


def test_the_drill_library_in_the_configmap_loads() -> None:
    cm = next(d for d in yaml.safe_load_all((K8S / "drills-configmap.yaml").read_text()) if d)
    assert cm["kind"] == "ConfigMap"
    for name, text in cm["data"].items():
        doc = yaml.safe_load(text)
        if doc["kind"] == "Scenario":
            assert (
                doc["target"]["type"] == "kubernetes"
                and doc["target"]["namespace"] == "payments-staging"
            )
        else:
            assert all(s in cm["data"] for s in doc["scenarios"]), name


def test_drills_validate_with_the_scenario_model(tmp_path: Path) -> None:
    cm = next(d for d in yaml.safe_load_all((K8S / "drills-configmap.yaml").read_text()) if d)
    for name, text in cm["data"].items():
        (tmp_path / name).write_text(text)
    for name in cm["data"]:
        load_document(tmp_path / name)


def test_role_grants_exactly_what_the_driver_declares() -> None:
    grants = role_grants()
    assert grants == set(PERMISSIONS), (
        f"Role grants more than the driver uses: {sorted(grants - PERMISSIONS)}; "
        f"driver uses what the Role lacks: {sorted(PERMISSIONS - grants)}"
    )


def test_binding_names_the_service_account_of_the_jobs() -> None:
    docs = {
        (d["kind"], d["metadata"]["name"]): d
        for p in MANIFESTS
        for d in yaml.safe_load_all(p.read_text())
        if d
    }
    binding = docs[("RoleBinding", "gameday-drill")]
    assert binding["roleRef"]["name"] == "gameday-drill"
    (subject,) = binding["subjects"]
    sa = docs[("ServiceAccount", subject["name"])]
    assert sa["metadata"]["namespace"] == subject["namespace"]
    for kind, name in (("Job", "gameday-drill"), ("CronJob", "gameday-quarterly-dr")):
        spec = docs[(kind, name)]["spec"]
        pod = (
            spec["jobTemplate"]["spec"]["template"]["spec"]
            if kind == "CronJob"
            else spec["template"]["spec"]
        )
        assert pod["serviceAccountName"] == subject["name"]
        assert any(v.get("persistentVolumeClaim") for v in pod["volumes"])


def test_staging_namespace_is_labelled() -> None:
    ns = [d for d in yaml.safe_load_all((K8S / "namespace.yaml").read_text()) if d]
    assert {"payments-staging": "staging"}.items() <= {
        d["metadata"]["name"]: d["metadata"]["labels"].get("gameday.dev/environment") for d in ns
    }.items()


def _exercise_everything(make_env: Any) -> set[tuple[str, str, str]]:
    """Run every fault kind, revert and sweep under the Role; return what the server served."""
    from gameday.scenarios.model import (
        CrashFault,
        GrayReleaseFault,
        LatencyFault,
        NetworkCutFault,
        PauseFault,
        StopFault,
    )

    served: set[tuple[str, str, str]] = set()
    for rollouts in (True, False):
        c, _, d = make_env(rollouts=rollouts, chaos=True)
        if rollouts:
            c.add_rollout(
                "api-a", {"app.kubernetes.io/name": "api-a"}, "registry.example/payments-api:v1"
            )
        c.controllers = True
        faults: list[Any] = [
            CrashFault(action="crash", service="api-b"),
            StopFault(action="stop", service="api-b"),
            StopFault(action="stop", service="db-standby"),
            NetworkCutFault(action="network-cut", service="site-a"),
            LatencyFault(action="latency", service="api-a", delay="50ms"),
            PauseFault(action="pause", service="gateway"),
            GrayReleaseFault(action="gray-release", service="api-a", version="v2", steps=["50%"]),
        ]
        d.preflight({"api-a"})
        for f in faults:
            plan = d.plan(f)
            d.apply(plan)
            if plan.undo["kind"] == "rollout":
                d.rollout_progress("api-a", 1.0)  # Progressing: watched until the timeout
            d.revert(plan)
        d.health()
        c.put(
            "chaos-mesh.org",
            "stresschaos",
            {
                "metadata": {
                    "name": "left",
                    "namespace": c.namespace,
                    "labels": d.labels("stress"),
                },
                "spec": {},
            },
        )
        d.sweep(None)
        c.controllers = False  # the pods stay gone: apply has to watch them go
        plan = d.plan(CrashFault(action="crash", service="api-a", pods="all"))
        c.expire_watches = 0
        d.api.call = _late(d.api.call)  # type: ignore[method-assign]
        d.apply(plan)
        served |= c.served
        assert not c.denied, c.denied
    return served


def _late(call: Any) -> Any:
    import threading

    def wrapper(perm: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if perm == ("", "pods", "delete"):
            threading.Timer(0.2, lambda: call(perm, fn, *args, **kwargs)).start()
            return None
        return call(perm, fn, *args, **kwargs)

    return wrapper


def test_every_granted_verb_is_used_and_nothing_else(make_env: Any) -> None:
    """Under the Role (the stand-in enforces it), a full run uses every grant and no other."""
    served = _exercise_everything(make_env)
    grants = role_grants()
    assert served <= grants
    unused = grants - served
    assert not unused, f"granted but never called: {sorted(unused)}"
    assert CALLS_SEEN <= PERMISSIONS
