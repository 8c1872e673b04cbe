"""The kubernetes driver through the real client against the API stand-in."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from gameday.scenarios.model import (
    CrashFault,
    GrayReleaseFault,
    LatencyFault,
    NetworkCutFault,
    PartitionFault,
    PauseFault,
    StopFault,
)
from gameday.targets.base import FaultPlan, TargetError, UnknownService, UnsupportedFault
from gameday.targets.kubernetes import (
    MANAGED_BY,
    RUN_LABEL,
    KubernetesDriver,
    canary_replicas,
    label_value,
    selector_string,
    with_tag,
)

from .conftest import NS
from .standin import Rule, expressions_match, wait_for

pytestmark = pytest.mark.kubernetes
NAME = "app.kubernetes.io/name"


def pods(c: Any, service: str) -> list[dict[str, Any]]:
    return [p for p in c.items("", "pods", NS) if p["metadata"]["labels"].get(NAME) == service]


def fresh(plan: FaultPlan) -> tuple[KubernetesDriver, FaultPlan]:
    """A driver and plan rebuilt from JSON alone, as `gameday recover` does in a new process."""
    data = json.loads(json.dumps(plan.to_json()))
    return KubernetesDriver.from_spec(data["spec"]), FaultPlan.from_json(data)


def assert_gameday_labels(obj: dict[str, Any]) -> None:
    labels = obj["metadata"]["labels"]
    assert labels[MANAGED_BY] == "gameday"
    assert labels[RUN_LABEL] == "drill-x-20260101T000000Z-abcd"
    assert labels["gameday.dev/drill"] == "drill-x"


# --- preflight ---------------------------------------------------------------------------


def test_preflight_resolves_names_and_groups(make_env: Any) -> None:
    _, _, d = make_env()
    assert d.preflight({"db-primary", "api-a", "site-a", "apis"}) == []
    assert selector_string(d.resolve("site-a")) == "group.gameday.dev/site-a"
    (problem,) = d.preflight({"db-primery"})
    assert "app.kubernetes.io/name=db-primery" in problem
    # bad input, refused with exit 2 before anything is applied, with the closest name
    assert isinstance(problem, UnknownService) and problem.service == "db-primery"
    assert problem.endswith("(did you mean 'db-primary'?)")


def test_preflight_refuses_a_namespace_not_marked_staging(make_env: Any) -> None:
    _, _, d = make_env(staging=False)
    (problem,) = d.preflight({"api-a"})
    assert "not marked as staging" in problem and "gameday.dev/environment=staging" in problem
    _, _, confirmed = make_env(staging=False, scenario_staging=True)
    assert confirmed.preflight({"api-a"}) == []


def test_preflight_reports_forbidden_namespace_read(make_env: Any) -> None:
    rules = [Rule({""}, {"pods"}, {"list"})]
    _, _, d = make_env(rules=rules)
    (problem,) = d.preflight({"api-a"})
    assert (
        'cannot get resource "namespaces" in API group "" in the namespace "payments-staging"'
        in problem
    )
    # the scenario's own `staging: true` stands in for the label it may not read
    _, _, ok = make_env(rules=rules, scenario_staging=True)
    assert ok.preflight({"api-a"}) == []


# --- crash -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "expected"), [(1, 1), ("50%", 2), ("10%", 1), ("all", 4), (9, 4)]
)
def test_crash_deletes_the_chosen_pods_with_grace_zero(
    make_env: Any, count: Any, expected: int
) -> None:
    c, _, d = make_env()
    before = {p["metadata"]["uid"] for p in pods(c, "api-a")}
    plan = d.plan(CrashFault(action="crash", service="api-a", pods=count))
    assert len(plan.undo["pods"]) == expected and plan.detail["of"] == 4
    result = d.apply(plan)
    assert len(result["deleted"]) == expected
    deletes = [r for r in c.requests if r[0] == "DELETE"]
    assert len(deletes) == expected and all(
        "/api/v1/namespaces/payments-staging/pods/" in r[1] for r in deletes
    )
    killed = {p["uid"] for p in plan.undo["pods"]}
    assert killed <= before
    # the ReplicaSet stand-in replaces them; revert only confirms that, twice over
    assert wait_for(
        lambda: (
            len(pods(c, "api-a")) == 4
            and not killed & {p["metadata"]["uid"] for p in pods(c, "api-a")}
        )
    )
    assert d.revert(plan) == d.revert(plan)


def test_crash_spares_a_statefulset_pod_already_recreated(make_env: Any) -> None:
    c, _, d = make_env()
    plan = d.plan(CrashFault(action="crash", service="db-primary"))
    # the pod is replaced under the same name before apply: the uid precondition gives 409
    c.remove("", "pods", NS, "db-primary-0")
    c.reconcile()
    new_uid = c.get("", "pods", NS, "db-primary-0")["metadata"]["uid"]
    assert d.apply(plan)["deleted"] == []
    assert c.get("", "pods", NS, "db-primary-0")["metadata"]["uid"] == new_uid


def test_crash_without_restart_is_refused(make_env: Any) -> None:
    _, _, d = make_env()
    with pytest.raises(UnsupportedFault, match="action: stop"):
        d.plan(CrashFault(action="crash", service="api-a", restart=False))


def test_crash_watch_survives_410_gone(make_env: Any) -> None:
    c, _, d = make_env()
    c.controllers = False  # pods stay gone; the driver must see their DELETED through a watch
    plan = d.plan(CrashFault(action="crash", service="api-a", pods="all"))
    c.expire_watches = 1
    # deletions land after the list, so the driver has to watch (and relist after the 410)
    d.api.call = _delayed_deletes(d.api.call)  # type: ignore[method-assign]
    result = d.apply(plan)
    assert len(result["deleted"]) == 4
    assert c.expire_watches == 0  # one watch got 410 Expired; the driver listed and watched again
    assert ("", "pods", "watch") in c.served
    assert not pods(c, "api-a")


def _delayed_deletes(call: Any) -> Any:
    """Make pod deletes land a moment later (grace period in flight), as on a busy cluster."""
    pending: list[threading.Timer] = []

    def wrapper(perm: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if perm == ("", "pods", "delete"):
            t = threading.Timer(0.3, lambda: call(perm, fn, *args, **kwargs))
            t.start()
            pending.append(t)
            return None
        return call(perm, fn, *args, **kwargs)

    wrapper.pending = pending  # type: ignore[attr-defined]

    return wrapper


# --- stop --------------------------------------------------------------------------------


def test_stop_scales_to_zero_and_back_from_plan_json(make_env: Any) -> None:
    c, _, d = make_env()
    plan = d.plan(StopFault(action="stop", service="api-a"))
    assert plan.undo["workloads"] == [{"kind": "Deployment", "name": "api-a", "replicas": 4}]
    assert d.apply(plan) == {"scaled": {"deployment/api-a": 0}}
    dep = c.get("apps", "deployments", NS, "api-a")
    assert dep["spec"]["replicas"] == 0
    assert dep["metadata"]["annotations"]["gameday.dev/restore-replicas"] == "4"
    assert wait_for(lambda: not pods(c, "api-a"))
    # patches go to the scale subresource as JSON merge patches
    assert (
        "PATCH",
        "/apis/apps/v1/namespaces/payments-staging/deployments/api-a/scale",
        "application/merge-patch+json",
    ) in c.requests
    d.close()
    d2, plan2 = fresh(plan)
    assert d2.revert(plan2) == {"restored": {"deployment/api-a": 4}}
    assert d2.revert(plan2) == {"restored": {}}  # idempotent
    dep = c.get("apps", "deployments", NS, "api-a")
    assert dep["spec"]["replicas"] == 4 and "gameday.dev/restore-replicas" not in dep[
        "metadata"
    ].get("annotations", {})
    assert wait_for(lambda: len(pods(c, "api-a")) == 4)
    d2.close()


def test_stop_statefulset_and_a_plan_never_applied(make_env: Any) -> None:
    c, _, d = make_env()
    plan = d.plan(StopFault(action="stop", service="db-standby"))
    assert d.revert(plan) == {"restored": {}}  # never applied: nothing touched
    assert c.get("apps", "statefulsets", NS, "db-standby")["spec"]["replicas"] == 1
    d.apply(plan)
    d.apply(plan)  # a retried apply keeps the first restore count, not 0
    assert (
        c.get("apps", "statefulsets", NS, "db-standby")["metadata"]["annotations"][
            "gameday.dev/restore-replicas"
        ]
        == "1"
    )
    assert d.revert(plan) == {"restored": {"statefulset/db-standby": 1}}


def test_stop_conflict_on_a_concurrent_change(make_env: Any) -> None:
    c, _, d = make_env()
    plan = d.plan(StopFault(action="stop", service="api-b"))
    real = d.api.call

    def racing(perm: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        out = real(perm, fn, *args, **kwargs)
        if perm == ("apps", "deployments/scale", "get"):
            c.put(
                "apps", "deployments", c.get("apps", "deployments", NS, "api-b")
            )  # someone else wrote
        return out

    d.api.call = racing  # type: ignore[method-assign]
    with pytest.raises(TargetError, match="the object has been modified"):
        d.apply(plan)
    assert c.get("apps", "deployments", NS, "api-b")["spec"]["replicas"] == 2


# --- network -----------------------------------------------------------------------------


def test_network_cut_creates_a_deny_all_policy_and_deletes_it(make_env: Any) -> None:
    c, _, d = make_env()
    plan = d.plan(NetworkCutFault(action="network-cut", service="site-a"))
    (name,) = plan.undo["names"]
    assert d.apply(plan) == {"networkpolicies": [name]}
    assert d.apply(plan) == {"networkpolicies": [name]}  # 409 AlreadyExists is a retried apply
    pol = c.get("networking.k8s.io", "networkpolicies", NS, name)
    assert_gameday_labels(pol)
    assert pol["spec"] == {
        "podSelector": {
            "matchExpressions": [{"key": "group.gameday.dev/site-a", "operator": "Exists"}]
        },
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [],
        "egress": [],
    }
    assert not d.health().ok
    d2, plan2 = fresh(plan)
    assert d2.revert(plan2) == {"deleted": [name]}
    assert d2.revert(plan2) == {"deleted": []}
    assert c.get("networking.k8s.io", "networkpolicies", NS, name) is None
    d2.close()
    with pytest.raises(UnsupportedFault, match="blackhole"):
        d.plan(NetworkCutFault(action="network-cut", service="api-a", mode="reset"))


def test_partition_allows_everything_but_the_other_side(make_env: Any) -> None:
    c, _, d = make_env()
    plan = d.plan(
        PartitionFault(action="partition", between=[["api-a", "db-primary"], ["db-standby"]])
    )
    d.apply(plan)
    policies = [c.get("networking.k8s.io", "networkpolicies", NS, n) for n in plan.undo["names"]]
    assert len(policies) == 3
    all_pods = c.items("", "pods", NS)
    for pol in policies:
        assert_gameday_labels(pol)
        mine = {
            p["metadata"]["name"]
            for p in all_pods
            if expressions_match(pol["spec"]["podSelector"], p["metadata"]["labels"])
        }
        peers = pol["spec"]["ingress"][0]["from"][0]["podSelector"]
        allowed = {
            p["metadata"]["name"]
            for p in all_pods
            if expressions_match(peers, p["metadata"]["labels"])
        }
        a_side = {
            p["metadata"]["name"]
            for p in all_pods
            if p["metadata"]["labels"][NAME] in ("api-a", "db-primary")
        }
        if mine & a_side:
            assert "db-standby-0" not in allowed and "gateway" in " ".join(allowed)
        else:
            assert mine == {"db-standby-0"} and not allowed & a_side
        assert pol["spec"]["egress"][0]["to"] == pol["spec"]["ingress"][0]["from"]
    d.revert(plan)
    assert not c.items("networking.k8s.io", "networkpolicies", NS)


# --- Chaos Mesh ----------------------------------------------------------------------------


def test_latency_and_pause_need_chaos_mesh(make_env: Any) -> None:
    _, _, d = make_env(chaos=False)
    with pytest.raises(UnsupportedFault, match="Chaos Mesh"):
        d.plan(LatencyFault(action="latency", service="api-a", delay="200ms"))
    with pytest.raises(UnsupportedFault, match="PodChaos"):
        d.plan(PauseFault(action="pause", service="api-a"))


def test_latency_through_network_chaos_waits_for_records(make_env: Any) -> None:
    c, _, d = make_env(chaos=True)
    plan = d.plan(
        LatencyFault(action="latency", link="api-a->db-primary", delay="250ms", jitter="10ms")
    )
    obj = plan.detail["object"]
    assert obj["kind"] == "NetworkChaos" and obj["spec"]["delay"] == {
        "latency": "250ms",
        "correlation": "0",
        "jitter": "10ms",
    }
    assert obj["spec"]["selector"] == {"namespaces": [NS], "labelSelectors": {NAME: "api-a"}}
    assert obj["spec"]["target"]["selector"]["labelSelectors"] == {NAME: "db-primary"}
    result = d.apply(plan)
    assert "Injected" in result["records"] and "NotInjected" not in result["records"]
    stored = c.get("chaos-mesh.org", "networkchaos", NS, plan.undo["name"])
    assert_gameday_labels(stored)
    assert stored["metadata"]["finalizers"] == ["chaos-mesh/records"]
    d2, plan2 = fresh(plan)
    out = d2.revert(plan2)
    assert out["already_gone"] is False
    assert c.get("chaos-mesh.org", "networkchaos", NS, plan.undo["name"]) is None
    assert d2.revert(plan2)["already_gone"] is True
    d2.close()


def test_pause_through_pod_chaos(make_env: Any) -> None:
    c, _, d = make_env(chaos=True)
    plan = d.plan(PauseFault(action="pause", service="site-b"))
    assert plan.detail["object"]["spec"]["action"] == "pod-failure"
    d.apply(plan)
    records = c.get("chaos-mesh.org", "podchaos", NS, plan.undo["name"])["status"]["experiment"][
        "containerRecords"
    ]
    assert {r["id"] for r in records} == {f"{NS}/db-standby-0"} | {
        f"{NS}/{p['metadata']['name']}" for p in pods(c, "api-b")
    }
    d.revert(plan)
    assert not c.items("chaos-mesh.org", "podchaos", NS)


def test_chaos_revert_times_out_when_records_stay_injected(make_env: Any) -> None:
    c, _, d = make_env(chaos=True)
    d.wait_s = 0.5
    plan = d.plan(PauseFault(action="pause", service="api-b"))
    d.apply(plan)
    c.controllers = False  # Chaos Mesh is down: the finalizer never goes
    with pytest.raises(TargetError, match="still injected"):
        d.revert(plan)


# --- gray release ------------------------------------------------------------------------


def test_gray_release_drives_an_argo_rollout_and_aborts_it(make_env: Any) -> None:
    c, server, d = make_env(rollouts=True)
    c.add_rollout("api-a", {NAME: "api-a"}, "registry.example/payments-api:v1")
    plan = d.plan(
        GrayReleaseFault(
            action="gray-release", service="api-a", version="v2-faulty", interval="10s"
        )
    )
    assert plan.undo["kind"] == "rollout"
    assert plan.detail["steps"][:2] == [{"setWeight": 5}, {"pause": {"duration": "10s"}}]
    d.apply(plan)
    ro = c.get("argoproj.io", "rollouts", NS, "api-a")
    assert (
        ro["spec"]["template"]["spec"]["containers"][0]["image"]
        == "registry.example/payments-api:v2-faulty"
    )
    assert ro["status"]["phase"] == "Progressing"

    def analysis_fails() -> None:
        time.sleep(0.2)
        server.set_rollout_status(
            "api-a",
            currentStepIndex=2,
            canary={"currentStepAnalysisRunStatus": {"status": "Failed"}},
        )
        time.sleep(0.1)
        server.set_rollout_status("api-a", abort=True, phase="Degraded")

    threading.Thread(target=analysis_fails, daemon=True).start()
    seen = d.rollout_progress("api-a", 5.0)
    assert seen[0]["phase"] == "Progressing" and seen[-1]["abort"] is True
    assert any(s["analysis"] == "Failed" for s in seen)
    d2, plan2 = fresh(plan)
    out = d2.revert(plan2)
    assert out["aborted_by_analysis"] is True and "aborted" not in out
    ro = c.get("argoproj.io", "rollouts", NS, "api-a")
    assert (
        ro["spec"]["template"]["spec"]["containers"][0]["image"]
        == "registry.example/payments-api:v1"
    )
    assert ro["spec"]["strategy"]["canary"]["steps"] == [{"setWeight": 50}, {"pause": {}}]
    assert ro["status"]["phase"] == "Healthy"
    assert d2.revert(plan2)["already"] == "on the previous images"
    d2.close()


def test_gray_release_abort_goes_to_the_status_subresource(make_env: Any) -> None:
    c, _, d = make_env(rollouts=True)
    c.add_rollout("api-a", {NAME: "api-a"}, "registry.example/payments-api:v1")
    plan = d.plan(GrayReleaseFault(action="gray-release", service="api-a", version="v2"))
    d.apply(plan)
    out = d.revert(plan)
    assert out["aborted"] is True
    assert (
        "PATCH",
        "/apis/argoproj.io/v1alpha1/namespaces/payments-staging/rollouts/api-a/status",
        "application/merge-patch+json",
    ) in c.requests


def test_gray_release_without_argo_uses_a_canary_deployment(make_env: Any) -> None:
    c, _, d = make_env(rollouts=False)
    plan = d.plan(
        GrayReleaseFault(
            action="gray-release",
            service="api-a",
            version="v2-faulty",
            steps=["20%", "50%"],
            interval="300ms",
        )
    )
    assert plan.undo["kind"] == "canary"
    assert d.apply(plan)["replicas"] == 1  # 4 stable × 20/80
    canary = c.get("apps", "deployments", NS, plan.undo["name"])
    assert_gameday_labels(canary)
    assert (
        canary["spec"]["template"]["metadata"]["labels"][NAME] == "api-a"
    )  # behind the same Service
    assert (
        canary["spec"]["template"]["spec"]["containers"][0]["image"]
        == "registry.example/payments-api:v2-faulty"
    )
    assert wait_for(lambda: len(pods(c, "api-a")) == 5)
    assert wait_for(
        lambda: c.get("apps", "deployments", NS, plan.undo["name"])["spec"]["replicas"] == 4
    )
    assert d.preflight({"api-a"}) == []
    assert d.plan(StopFault(action="stop", service="api-a")).undo["workloads"][0]["name"] == "api-a"
    d2, plan2 = fresh(plan)
    out = d2.revert(plan2)
    assert out["already_gone"] is False
    assert c.get("apps", "deployments", NS, plan.undo["name"]) is None
    assert wait_for(lambda: len(pods(c, "api-a")) == 4)
    assert d2.revert(plan2)["already_gone"] is True
    d2.close()


# --- errors, recover, labels ---------------------------------------------------------------


def test_forbidden_carries_the_rbac_message(make_env: Any) -> None:
    rules = [Rule({""}, {"namespaces"}, {"get"}), Rule({""}, {"pods"}, {"list", "watch"})]
    c, _, d = make_env(rules=rules)
    plan = d.plan(CrashFault(action="crash", service="api-a"))
    with pytest.raises(TargetError) as err:
        d.apply(plan)
    assert (
        str(err.value).startswith('pods "api-a-')
        and 'is forbidden: User "system:serviceaccount:gameday:gameday" cannot delete resource "pods" in API group "" in the namespace "payments-staging"'
        in str(err.value)
    )
    assert c.denied


def test_not_found_is_a_target_error(make_env: Any) -> None:
    _, _, d = make_env()
    other = KubernetesDriver("nope", kubeconfig=d.kubeconfig, context="standin")
    other.bind_run("r", "d")
    assert other.preflight({"api-a"}) == ["namespace nope does not exist"]
    other.close()


def test_sweep_removes_what_a_dead_runner_left(make_env: Any) -> None:
    c, _, d = make_env(chaos=True)
    cut = d.plan(NetworkCutFault(action="network-cut", service="api-b"))
    stop = d.plan(StopFault(action="stop", service="gateway"))
    lat = d.plan(LatencyFault(action="latency", service="api-a", delay="100ms"))
    canary = d.plan(
        GrayReleaseFault(action="gray-release", service="api-b", version="v2", steps=["50%"])
    )
    for p in (cut, stop, lat, canary):
        d.apply(p)
    d.close()  # the runner dies; only labels and annotations are left
    survivor = KubernetesDriver.from_spec(d.spec())
    other_run = survivor.sweep("another-run")
    assert other_run == {"networkpolicies": [], "deployments": [], "chaos": [], "scaled": []}
    out = survivor.sweep("drill-x-20260101T000000Z-abcd")
    assert out["networkpolicies"] == cut.undo["names"]
    assert out["deployments"] == [canary.undo["name"]]
    assert out["chaos"] == [f"NetworkChaos/{lat.undo['name']}"]
    assert out["scaled"] == [{"deployment/gateway": 2}]
    assert wait_for(lambda: not c.items("chaos-mesh.org", "networkchaos", NS))
    assert survivor.health().ok, survivor.health().summary
    survivor.close()


def test_events_record_injection_and_revert(make_env: Any) -> None:
    c, _, d = make_env()
    plan = d.plan(NetworkCutFault(action="network-cut", service="api-b"))
    d.apply(plan)
    d.revert(plan)
    events = c.items("", "events", NS)
    assert [e["reason"] for e in events if e["reason"].startswith("Gameday")] == [
        "GamedayFaultInjected",
        "GamedayFaultReverted",
    ] or sorted(e["reason"] for e in events) == ["GamedayFaultInjected", "GamedayFaultReverted"]
    for e in events:
        assert_gameday_labels(e)


def test_helpers() -> None:
    assert label_value("x" * 80) != label_value("x" * 81) and len(label_value("x" * 80)) <= 63
    assert with_tag("registry:5000/team/api:v1", "v2") == "registry:5000/team/api:v2"
    assert with_tag("api@sha256:abc", "v2") == "api:v2"
    assert [canary_replicas(4, s) for s in (0.05, 0.2, 0.5, 1.0)] == [1, 1, 4, 4]
    assert (
        selector_string(
            {
                "matchLabels": {"a": "b"},
                "matchExpressions": [
                    {"key": "c", "operator": "NotIn", "values": ["d", "e"]},
                    {"key": "f", "operator": "DoesNotExist"},
                ],
            }
        )
        == "a=b,c notin (d,e),!f"
    )


def test_spec_round_trip_and_model() -> None:
    from gameday.scenarios.model import KubernetesTarget

    model = KubernetesTarget(
        type="kubernetes", namespace="ns", context="ctx", url="http://x", staging=True
    )
    d = KubernetesDriver.from_model(model)
    assert KubernetesDriver.from_spec(d.spec()).spec() == d.spec()
    assert "run" not in json.dumps(d.spec())  # the lock keys on the spec: no run id in it
