"""Driver for workloads in a Kubernetes namespace (``target: {type: kubernetes}``).

A service is the pods carrying ``<selector_label>=<service>`` (default
``app.kubernetes.io/name``), or, for a group such as ``site-a``, the pods carrying the
label key ``group.gameday.dev/<service>``. Faults: crash (pod delete, grace period 0),
stop (scale to zero and back), network cut and partition (NetworkPolicies), gray release
(Argo Rollouts when installed, else a canary Deployment) and, through Chaos Mesh when its
CRDs are installed, latency (NetworkChaos) and pause (PodChaos).

Every object the driver creates is labelled with the drill and the run, and every plan's
``undo`` names what to delete or restore, so a new process reverts from the plan alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from ..runners.budget import TargetTimings
from ..scenarios.model import (
    AnyFault,
    CommandFault,
    CrashFault,
    GrayReleaseFault,
    KubernetesTarget,
    LatencyFault,
    LoadSurgeFault,
    NetworkCutFault,
    PartitionFault,
    PauseFault,
    StopFault,
)
from .base import FaultPlan, Health, TargetError, UnsupportedFault
from .k8s_api import (
    CHAOS_GROUP,
    CHAOS_KINDS,
    CHAOS_VERSION,
    MERGE_PATCH,
    ROLLOUTS,
    Api,
    ApiError,
    load_api_client,
)

DRIVER = "kubernetes"
MANAGED_BY = "app.kubernetes.io/managed-by"
RUN_LABEL = "gameday.dev/run"
DRILL_LABEL = "gameday.dev/drill"
FAULT_LABEL = "gameday.dev/fault"
TRACK_LABEL = "gameday.dev/track"
STAGING_LABEL = "gameday.dev/environment"
GROUP_PREFIX = "group.gameday.dev/"
RUN_ANNOTATION = "gameday.dev/run-id"  # the full run id (a label value is capped at 63)
RESTORE_ANNOTATION = "gameday.dev/restore-replicas"
STOPPED_BY_ANNOTATION = "gameday.dev/stopped-by"
WORKLOAD_KINDS = {"Deployment": "deployments", "StatefulSet": "statefulsets"}
_CustomResource = tuple[str, str, str]  # (group, version, plural), as ROLLOUTS
# a built-in kind sweep deletes: (API group, plural, list, delete, extra delete options)
_SweptKind = tuple[str, str, Callable[..., Any], Callable[..., Any], dict[str, Any]]
_LABEL_VALUE = re.compile(r"[^A-Za-z0-9._-]")


def label_value(text: str) -> str:
    """``text`` as a valid label value: ≤ 63 chars, alphanumeric at both ends."""
    clean = _LABEL_VALUE.sub("-", text).strip("-_.")
    if len(clean) > 63:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        clean = clean[:54].rstrip("-_.") + "-" + digest
    return clean or "none"


def object_name(*parts: str) -> str:
    """A DNS-1123 object name from ``parts`` (hashed when it would exceed 63 chars)."""
    raw = "-".join(p for p in parts if p).lower()
    clean = re.sub(r"[^a-z0-9-]", "-", raw).strip("-")
    if len(clean) > 63:
        clean = clean[:54].rstrip("-") + "-" + hashlib.sha256(raw.encode()).hexdigest()[:8]
    return clean


class KubernetesDriver:
    """The ``Target`` for workloads in one namespace."""

    name = DRIVER

    def __init__(
        self,
        namespace: str,
        *,
        context: str | None = None,
        selector_label: str = "app.kubernetes.io/name",
        url: str = "",
        staging: bool = False,
        kubeconfig: str | None = None,
        timeout_s: float = 10.0,
        wait_s: float = 120.0,
        api_client: Any = None,
    ) -> None:
        self.namespace = namespace
        self.context = context
        self.selector_label = selector_label
        self.url = url
        self.staging = staging
        self.kubeconfig = kubeconfig
        self.timeout_s = timeout_s
        self.wait_s = wait_s  # how long apply/revert wait for the cluster to confirm
        self._api_client = api_client
        self._api: Api | None = None
        self._groups: dict[str, set[str]] | None = None
        self.run_id = f"adhoc-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"
        self.drill = "adhoc"
        self._steppers: dict[str, threading.Event] = {}

    @classmethod
    def from_model(cls, model: KubernetesTarget) -> KubernetesDriver:
        """The driver for a scenario's ``target: {type: kubernetes, ...}``."""
        return cls(
            model.namespace,
            context=model.context,
            selector_label=model.selector_label,
            url=model.url,
            staging=model.staging,
        )

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> KubernetesDriver:
        """Rebuild from a journaled ``spec()`` (for ``gameday recover``)."""
        return cls(
            str(spec["namespace"]),
            context=spec.get("context"),
            selector_label=str(spec.get("selector_label") or "app.kubernetes.io/name"),
            url=str(spec.get("url") or ""),
            staging=bool(spec.get("staging", False)),
            kubeconfig=spec.get("kubeconfig"),
        )

    def bind_run(self, run_id: str, drill: str) -> None:
        """Name the run and drill that label every object this driver creates."""
        self.run_id, self.drill = run_id, drill

    def spec(self) -> dict[str, Any]:
        """Namespace, context and selector (no run id: the lock keys on this)."""
        out: dict[str, Any] = {
            "namespace": self.namespace,
            "context": self.context,
            "selector_label": self.selector_label,
            "url": self.url,
            "staging": self.staging,
        }
        if self.kubeconfig:
            out["kubeconfig"] = self.kubeconfig
        return out

    @property
    def api(self) -> Api:
        """The recorded API wrapper (the client is built on first use)."""
        if self._api is None:
            api_client = self._api_client or load_api_client(self.kubeconfig, self.context)
            self._api_client = api_client
            self._api = Api(api_client, self.timeout_s)
        return self._api

    def close(self) -> None:
        """Stop canary steppers and close the HTTP pool."""
        for stop in self._steppers.values():
            stop.set()
        self._steppers.clear()
        if self._api_client is not None:
            with contextlib.suppress(Exception):
                self._api_client.close()
        self._api_client = None
        self._api = None

    # --- labels and selectors -------------------------------------------------------------

    def labels(
        self, fault: str, run_id: str | None = None, drill: str | None = None
    ) -> dict[str, str]:
        """Labels of every object created for ``fault`` in this run."""
        return {
            MANAGED_BY: "gameday",
            RUN_LABEL: label_value(run_id or self.run_id),
            DRILL_LABEL: label_value(drill or self.drill),
            FAULT_LABEL: label_value(fault),
        }

    def selector(self, service: str) -> dict[str, Any]:
        """The LabelSelector of a service: its name label, or its group label key."""
        if service.startswith("group:"):
            return {"matchExpressions": [{"key": GROUP_PREFIX + service[6:], "operator": "Exists"}]}
        return {"matchLabels": {self.selector_label: service}}

    def resolve(self, service: str) -> dict[str, Any]:
        """The selector of pods a service stands for; TargetError when no pod matches."""
        by_name = self.selector(service)
        if self._pods(by_name):
            return by_name
        by_group = self.selector("group:" + service)
        if self._pods(by_group):
            return by_group
        raise TargetError(
            f"no pod in namespace {self.namespace} carries {self.selector_label}={service} "
            f"or the label {GROUP_PREFIX}{service}"
        )

    def _pods(self, selector: Mapping[str, Any]) -> list[Any]:
        pods = self.api.call(
            ("", "pods", "list"),
            self.api.core.list_namespaced_pod,
            self.namespace,
            label_selector=selector_string(selector),
        ).items
        return [p for p in pods if p.metadata.deletion_timestamp is None]

    # --- API helpers ------------------------------------------------------------------------

    def _custom(
        self,
        verb: str,
        resource: _CustomResource,
        *args: Any,
        optional: bool = False,
        **kwargs: Any,
    ) -> Any:
        """``<verb>_namespaced_custom_object`` on ``resource`` in the namespace.

        ``args`` follow the plural (name, body); ``optional`` makes a 404 None.
        """
        group, version, plural = resource
        perm = (group, plural, verb)
        method = getattr(self.api.custom, f"{verb}_namespaced_custom_object")
        if optional:
            return self.api.optional(
                perm, method, group, version, self.namespace, plural, *args, **kwargs
            )
        return self.api.call(perm, method, group, version, self.namespace, plural, *args, **kwargs)

    def _read_workload(self, kind: str, name: str, *, optional: bool = False) -> Any:
        """Read a Deployment or StatefulSet; ``optional`` makes a 404 None."""
        perm = ("apps", WORKLOAD_KINDS[kind], "get")
        method = getattr(self.api.apps, f"read_namespaced_{_snake(kind)}")
        if optional:
            return self.api.optional(perm, method, name, self.namespace)
        return self.api.call(perm, method, name, self.namespace)

    def _patch_workload(self, kind: str, name: str, patch: dict[str, Any]) -> None:
        """Merge-patch a Deployment or StatefulSet."""
        self.api.call(
            ("apps", WORKLOAD_KINDS[kind], "patch"),
            getattr(self.api.apps, f"patch_namespaced_{_snake(kind)}"),
            name,
            self.namespace,
            patch,
            _content_type=MERGE_PATCH,
        )

    def _set_replicas(self, kind: str, name: str, replicas: int) -> None:
        """Merge-patch the replicas of a Deployment's or StatefulSet's scale subresource."""
        self.api.call(
            ("apps", f"{WORKLOAD_KINDS[kind]}/scale", "patch"),
            getattr(self.api.apps, f"patch_namespaced_{_snake(kind)}_scale"),
            name,
            self.namespace,
            {"spec": {"replicas": replicas}},
            _content_type=MERGE_PATCH,
        )

    # --- information ------------------------------------------------------------------------

    def variables(self) -> dict[str, str]:
        """url, namespace, context, selector_label, and the in-cluster Locust master."""
        return {
            "url": self.url,
            "namespace": self.namespace,
            "context": self.context or "",
            "selector_label": self.selector_label,
            # the distributed Locust of k8s/locust.yaml, for `traffic:` in-cluster
            "locust_master": "locust-master.gameday.svc:5557",
            "locust_web": "http://locust-master.gameday.svc:8089",
        }

    def secrets(self) -> list[str]:
        """None: credentials stay in the kubeconfig and never reach variables."""
        return []

    def timings(self) -> TargetTimings:
        """No floors known from the API alone."""
        return TargetTimings()

    def set_alert_receiver(self, url: str | None) -> None:
        """Cluster alerting is configured by its owners; point Alertmanager at the receiver."""

    def capabilities(self) -> dict[str, bool]:
        """Which optional controllers' CRDs are served: Argo Rollouts, Chaos Mesh kinds."""
        if self._groups is None:
            self._groups = self.api.discover()
        caps = {"rollouts": False, **dict.fromkeys(CHAOS_KINDS, False)}
        group, version, plural = ROLLOUTS
        if version in self._groups.get(group, set()):
            caps["rollouts"] = plural in self.api.resources(group, version)
        if CHAOS_VERSION in self._groups.get(CHAOS_GROUP, set()):
            served = self.api.resources(CHAOS_GROUP, CHAOS_VERSION)
            for kind, chaos_plural in CHAOS_KINDS.items():
                caps[kind] = chaos_plural in served
        return caps

    def preflight(self, services: set[str]) -> list[str]:
        """Namespace marked staging (label or ``staging: true``), every service resolves."""
        problems: list[str] = []
        try:
            ns = self.api.call(
                ("", "namespaces", "get"), self.api.core.read_namespace, self.namespace
            )
            labels = ns.metadata.labels or {}
        except ApiError as exc:
            if exc.status == 404:
                return [f"namespace {self.namespace} does not exist"]
            if exc.status != 403 or not self.staging:
                return [f"cannot read namespace {self.namespace}: {exc}"]
            labels = {}  # may not read it, but the scenario itself says staging
        except TargetError as exc:
            return [str(exc)]
        if labels.get(STAGING_LABEL) != "staging" and not self.staging:
            problems.append(
                f"namespace {self.namespace} is not marked as staging: label it "
                f"{STAGING_LABEL}=staging, or set 'staging: true' in the scenario's target"
            )
        for service in sorted(services):
            try:
                self.resolve(service)
            except TargetError as exc:
                problems.append(str(exc))
        return problems

    def health(self) -> Health:
        """Every pod ready, every workload at its replicas, no gameday object left over."""
        issues: list[str] = []
        components: dict[str, Any] = {}
        try:
            for pod in self.api.call(
                ("", "pods", "list"), self.api.core.list_namespaced_pod, self.namespace
            ).items:
                pod_ok = _pod_ready(pod)
                components[f"pod/{pod.metadata.name}"] = {"ready": pod_ok}
                if not pod_ok:
                    issues.append(f"pod {pod.metadata.name} not ready")
            for d in self.api.call(
                ("apps", "deployments", "list"),
                self.api.apps.list_namespaced_deployment,
                self.namespace,
            ).items:
                want: int = d.spec.replicas or 0
                ready: int = d.status.ready_replicas or 0
                components[f"deployment/{d.metadata.name}"] = {"replicas": want, "ready": ready}
                if ready < want:
                    issues.append(f"deployment {d.metadata.name} {ready}/{want} ready")
                if (d.metadata.labels or {}).get(MANAGED_BY) == "gameday":
                    issues.append(f"gameday canary {d.metadata.name} still present")
                if STOPPED_BY_ANNOTATION in (d.metadata.annotations or {}):
                    issues.append(f"deployment {d.metadata.name} still scaled down by gameday")
            left = self.api.call(
                ("networking.k8s.io", "networkpolicies", "list"),
                self.api.net.list_namespaced_network_policy,
                self.namespace,
                label_selector=f"{MANAGED_BY}=gameday",
            ).items
            issues.extend(f"network policy {p.metadata.name} in force" for p in left)
        except TargetError as exc:
            return Health(False, str(exc))
        summary = "all healthy" if not issues else "; ".join(issues)
        return Health(not issues, summary, components)

    # --- planning ---------------------------------------------------------------------------

    def plan(self, fault: AnyFault) -> FaultPlan:
        """Resolve what ``fault`` touches and how to undo it; changes nothing."""
        if isinstance(fault, CommandFault | LoadSurgeFault):
            from . import plan_local_fault

            return plan_local_fault(fault)
        label = fault.label()
        base = {
            "namespace": self.namespace,
            "labels": self.labels(label),
            "run_id": self.run_id,
            "drill": self.drill,
        }
        if isinstance(fault, CrashFault):
            return self._plan_crash(fault, base)
        if isinstance(fault, StopFault):
            return self._plan_stop(fault, base)
        if isinstance(fault, NetworkCutFault):
            if fault.mode == "reset":
                raise UnsupportedFault(
                    "NetworkPolicies drop packets (blackhole); 'mode: reset' is not available"
                )
            sel = self.resolve(fault.service)
            policy = self._policy(label, fault.service, sel, None)
            return self._policy_plan(fault, base, [policy], (f"pods {selector_string(sel)}",))
        if isinstance(fault, PartitionFault):
            sides = [[self.resolve(s) for s in group] for group in fault.between]
            policies = []
            for mine, other in ((sides[0], sides[1]), (sides[1], sides[0])):
                for i, sel in enumerate(mine):
                    policies.append(self._policy(label, str(i), sel, other))
            touches = tuple(selector_string(s) for side in sides for s in side)
            return self._policy_plan(fault, base, policies, touches)
        if isinstance(fault, LatencyFault):
            return self._plan_latency(fault, base)
        if isinstance(fault, PauseFault):
            sel = self.resolve(fault.service)
            chaos = self._chaos(
                "PodChaos",
                label,
                {"action": "pod-failure", "mode": "all", "selector": self._chaos_selector(sel)},
            )
            return self._chaos_plan(fault, base, chaos, (f"pods {selector_string(sel)}",))
        if isinstance(fault, GrayReleaseFault):
            return self._plan_release(fault, base)
        raise UnsupportedFault(f"the kubernetes target cannot apply {fault.action!r}")

    def _fault_plan(
        self,
        fault: AnyFault,
        undo: Mapping[str, Any],
        touches: tuple[str, ...],
        detail: Mapping[str, Any] | None = None,
    ) -> FaultPlan:
        """This driver's plan for ``fault``: a new process rebuilds the driver from ``spec()``."""
        return FaultPlan(
            fault.label(),
            fault.action,
            DRIVER,
            self.spec(),
            undo,
            touches,
            {} if detail is None else detail,
        )

    def _plan_crash(self, fault: CrashFault, base: dict[str, Any]) -> FaultPlan:
        if not fault.restart:
            raise UnsupportedFault(
                "a crashed pod is recreated by its controller; use 'action: stop' to keep it down"
            )
        sel = self.resolve(fault.service)
        pods = sorted(self._pods(sel), key=lambda p: p.metadata.name)
        if fault.pods == "all":
            count = len(pods)
        elif isinstance(fault.pods, float):
            count = max(1, math.ceil(fault.pods * len(pods)))
        else:
            count = min(int(fault.pods), len(pods))
        chosen = [{"name": p.metadata.name, "uid": p.metadata.uid} for p in pods[:count]]
        undo = {**base, "kind": "recreated", "selector": sel, "pods": chosen}
        detail = {"of": len(pods), "grace_period_seconds": 0}
        return self._fault_plan(fault, undo, tuple(f"pod/{c['name']}" for c in chosen), detail)

    def _plan_stop(self, fault: StopFault, base: dict[str, Any]) -> FaultPlan:
        workloads = self._workloads(fault.service)
        if not workloads:
            raise TargetError(
                f"no Deployment or StatefulSet labelled {self.selector_label}={fault.service} "
                f"in {self.namespace} to scale to zero"
            )
        undo = {**base, "kind": "scale", "workloads": workloads}
        return self._fault_plan(
            fault, undo, tuple(f"{w['kind'].lower()}/{w['name']}" for w in workloads)
        )

    def _workloads(self, service: str) -> list[dict[str, Any]]:
        # the canary Deployments gameday itself creates are not the service's workloads
        sel = f"{self.selector_label}={service},{MANAGED_BY}!=gameday"
        out: list[dict[str, Any]] = []
        for kind, plural in WORKLOAD_KINDS.items():
            lister = getattr(self.api.apps, f"list_namespaced_{_snake(kind)}")
            for obj in self.api.call(
                ("apps", plural, "list"), lister, self.namespace, label_selector=sel
            ).items:
                out.append({"kind": kind, "name": obj.metadata.name, "replicas": obj.spec.replicas})
        return out

    def _policy(
        self, label: str, suffix: str, sel: dict[str, Any], others: list[dict[str, Any]] | None
    ) -> dict[str, Any]:
        if others is None:
            # isolation: both directions selected, no rule allows anything
            ingress: list[Any] = []
            egress: list[Any] = []
        else:
            # NetworkPolicies only allow: permit every peer except the other side's pods
            peers = [
                {"podSelector": _not_any(others)},
                {
                    "namespaceSelector": {
                        "matchExpressions": [
                            {
                                "key": "kubernetes.io/metadata.name",
                                "operator": "NotIn",
                                "values": [self.namespace],
                            }
                        ]
                    }
                },
            ]
            ingress, egress = [{"from": peers}], [{"to": peers}]
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {
                "name": object_name("gameday", label, suffix, secrets.token_hex(2)),
                "namespace": self.namespace,
                "labels": self.labels(label),
                "annotations": {RUN_ANNOTATION: self.run_id},
            },
            "spec": {
                "podSelector": sel,
                "policyTypes": ["Ingress", "Egress"],
                "ingress": ingress,
                "egress": egress,
            },
        }

    def _policy_plan(
        self,
        fault: AnyFault,
        base: dict[str, Any],
        policies: list[dict[str, Any]],
        touches: tuple[str, ...],
    ) -> FaultPlan:
        undo = {
            **base,
            "kind": "networkpolicies",
            "names": [p["metadata"]["name"] for p in policies],
        }
        return self._fault_plan(fault, undo, touches, {"objects": policies})

    def _plan_latency(self, fault: LatencyFault, base: dict[str, Any]) -> FaultPlan:
        spec: dict[str, Any] = {
            "action": "delay",
            "mode": "all",
            "direction": "to",
            "delay": {"latency": f"{round(fault.delay * 1000)}ms", "correlation": "0"},
        }
        if fault.jitter:
            spec["delay"]["jitter"] = f"{round(fault.jitter * 1000)}ms"
        if fault.link:
            src, dst = fault.link.split("->")
            spec["selector"] = self._chaos_selector(self.resolve(src))
            # packets from src to dst are delayed once per round trip
            spec["target"] = {"mode": "all", "selector": self._chaos_selector(self.resolve(dst))}
            touches: tuple[str, ...] = (fault.link,)
        else:
            sel = self.resolve(str(fault.service))
            spec["selector"] = self._chaos_selector(sel)
            touches = (f"pods {selector_string(sel)}",)
        chaos = self._chaos("NetworkChaos", fault.label(), spec)
        return self._chaos_plan(fault, base, chaos, touches)

    def _chaos_selector(self, sel: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"namespaces": [self.namespace]}
        if sel.get("matchLabels"):
            out["labelSelectors"] = dict(sel["matchLabels"])
        if sel.get("matchExpressions"):
            out["expressionSelectors"] = list(sel["matchExpressions"])
        return out

    def _chaos(self, kind: str, label: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": f"{CHAOS_GROUP}/{CHAOS_VERSION}",
            "kind": kind,
            "metadata": {
                "name": object_name("gameday", label, secrets.token_hex(2)),
                "namespace": self.namespace,
                "labels": self.labels(label),
                "annotations": {RUN_ANNOTATION: self.run_id},
            },
            "spec": spec,
        }

    def _chaos_plan(
        self, fault: AnyFault, base: dict[str, Any], chaos: dict[str, Any], touches: tuple[str, ...]
    ) -> FaultPlan:
        kind = str(chaos["kind"])
        if not self.capabilities().get(kind):
            raise UnsupportedFault(
                f"{fault.action} on Kubernetes needs Chaos Mesh ({kind} in "
                f"{CHAOS_GROUP}/{CHAOS_VERSION}), which this cluster does not serve"
            )
        undo = {
            **base,
            "kind": "chaos",
            "chaos_kind": kind,
            "plural": CHAOS_KINDS[kind],
            "name": chaos["metadata"]["name"],
        }
        return self._fault_plan(fault, undo, touches, {"object": chaos})

    def _plan_release(self, fault: GrayReleaseFault, base: dict[str, Any]) -> FaultPlan:
        interval = fault.interval or 30.0
        if self.capabilities()["rollouts"]:
            found = self._custom(
                "list", ROLLOUTS, label_selector=f"{self.selector_label}={fault.service}"
            ).get("items", [])
            if found:
                ro = found[0]
                containers = ro["spec"]["template"]["spec"]["containers"]
                images = {c["name"]: c["image"] for c in containers}
                undo = {
                    **base,
                    "kind": "rollout",
                    "name": ro["metadata"]["name"],
                    "images": images,
                    "steps": ro["spec"].get("strategy", {}).get("canary", {}).get("steps"),
                    "version": fault.version,
                }
                steps: list[dict[str, Any]] = []
                for share in fault.steps:
                    steps.append({"setWeight": round(share * 100)})
                    if share < 1:
                        steps.append({"pause": {"duration": f"{round(interval)}s"}})
                detail: dict[str, Any] = {
                    "images": {n: with_tag(i, fault.version) for n, i in images.items()},
                    "steps": steps,
                }
                touches = (f"rollout/{ro['metadata']['name']}@{fault.version}",)
                return self._fault_plan(fault, undo, touches, detail)
        stable = [w for w in self._workloads(fault.service) if w["kind"] == "Deployment"]
        if not stable:
            raise TargetError(
                f"no Rollout or Deployment labelled {self.selector_label}={fault.service} "
                f"in {self.namespace} to release {fault.version} to"
            )
        name = object_name(stable[0]["name"], "gameday-canary")
        undo = {
            **base,
            "kind": "canary",
            "name": name,
            "stable": stable[0]["name"],
            "version": fault.version,
        }
        detail = {"shares": list(fault.steps), "interval_s": interval}
        return self._fault_plan(fault, undo, (f"deployment/{name}@{fault.version}",), detail)

    # --- apply ------------------------------------------------------------------------------

    def apply(self, plan: FaultPlan) -> Mapping[str, Any]:
        """Apply a planned fault and confirm the cluster took it."""
        if plan.driver != DRIVER:
            from . import target_from_spec

            return target_from_spec(plan.driver, plan.spec).apply(plan)
        kind = plan.undo.get("kind")
        self._event(
            plan, "GamedayFaultInjected", f"gameday {plan.action}: {', '.join(plan.touches)}"
        )
        if kind == "recreated":
            return self._crash(plan)
        if kind == "scale":
            return self._scale_down(plan)
        if kind == "networkpolicies":
            return self._create_policies(plan)
        if kind == "chaos":
            return self._create_chaos(plan)
        if kind == "rollout":
            return self._start_rollout(plan)
        if kind == "canary":
            return self._start_canary(plan)
        raise UnsupportedFault(f"cannot apply plan kind {kind!r}")

    def _crash(self, plan: FaultPlan) -> dict[str, Any]:
        from kubernetes import client

        deleted: list[str] = []
        for pod in plan.undo["pods"]:
            # the uid precondition spares a StatefulSet pod already recreated under the same name
            opts = client.V1DeleteOptions(
                grace_period_seconds=0, preconditions=client.V1Preconditions(uid=pod["uid"])
            )
            try:
                self.api.call(
                    ("", "pods", "delete"),
                    self.api.core.delete_namespaced_pod,
                    pod["name"],
                    self.namespace,
                    grace_period_seconds=0,
                    body=opts,
                )
                deleted.append(pod["name"])
            except ApiError as exc:
                if exc.status not in (404, 409):  # gone, or already replaced: nothing to kill
                    raise
        uids = {p["uid"] for p in plan.undo["pods"]}
        gone, _ = self.api.watch_until(
            ("", "pods", "list"),
            self.api.core.list_namespaced_pod,
            lambda items: not uids & {i["metadata"].get("uid") for i in items},
            self.wait_s,
            namespace=self.namespace,
            label_selector=selector_string(plan.undo["selector"]),
        )
        if not gone:
            raise TargetError(
                f"pods {', '.join(deleted)} still listed {self.wait_s:g}s after delete"
            )
        return {"deleted": deleted, "grace_period_seconds": 0}

    def _scale_down(self, plan: FaultPlan) -> dict[str, Any]:
        token = f"{plan.undo['run_id']}/{plan.fault}"
        done: dict[str, int] = {}
        for w in plan.undo["workloads"]:
            obj = self._read_workload(w["kind"], w["name"])
            ann = obj.metadata.annotations or {}
            if STOPPED_BY_ANNOTATION not in ann:
                # recorded on the object first: recover restores from it even if the plan is stale
                scale = self.api.call(
                    ("apps", f"{WORKLOAD_KINDS[w['kind']]}/scale", "get"),
                    getattr(self.api.apps, f"read_namespaced_{_snake(w['kind'])}_scale"),
                    w["name"],
                    self.namespace,
                )
                patch = {
                    "metadata": {
                        "resourceVersion": obj.metadata.resource_version,
                        "annotations": {
                            RESTORE_ANNOTATION: str(scale.spec.replicas or 0),
                            STOPPED_BY_ANNOTATION: token,
                        },
                    }
                }
                self._patch_workload(w["kind"], w["name"], patch)
            self._set_replicas(w["kind"], w["name"], 0)
            done[f"{w['kind'].lower()}/{w['name']}"] = 0
        return {"scaled": done}

    def _create_policies(self, plan: FaultPlan) -> dict[str, Any]:
        created = []
        for policy in plan.detail["objects"]:
            with _already_exists_ok():
                self.api.call(
                    ("networking.k8s.io", "networkpolicies", "create"),
                    self.api.net.create_namespaced_network_policy,
                    self.namespace,
                    policy,
                )
            created.append(policy["metadata"]["name"])
        return {"networkpolicies": created}

    def _create_chaos(self, plan: FaultPlan) -> dict[str, Any]:
        obj, plural = plan.detail["object"], str(plan.undo["plural"])
        with _already_exists_ok():
            self._custom("create", _chaos_resource(plural), obj)
        name = str(plan.undo["name"])
        ok, found = self._wait_chaos(plural, name, injected=True)
        if not ok:
            raise TargetError(
                f"{plan.undo['chaos_kind']} {name} not injected after {self.wait_s:g}s: "
                f"{_chaos_summary(found)}"
            )
        return {"chaos": f"{plan.undo['chaos_kind']}/{name}", "records": _chaos_summary(found)}

    def _wait_chaos(
        self, plural: str, name: str, injected: bool
    ) -> tuple[bool, dict[str, Any] | None]:
        """Poll the chaos object until every container record is (not) injected, or it is gone."""
        deadline = time.monotonic() + self.wait_s
        obj: dict[str, Any] | None = None
        while True:
            obj = self._custom("get", _chaos_resource(plural), name, optional=True)
            if obj is None:
                return (not injected), None
            records = obj.get("status", {}).get("experiment", {}).get("containerRecords") or []
            want = "Injected" if injected else "NotInjected"
            if records and all(r.get("phase") == want for r in records):
                return True, obj
            if time.monotonic() >= deadline:
                return False, obj
            time.sleep(0.2)

    def _start_rollout(self, plan: FaultPlan) -> dict[str, Any]:
        images = dict(plan.detail["images"])
        ro = self._rollout(str(plan.undo["name"]))
        containers = [
            {"name": c["name"], "image": images.get(c["name"], c["image"])}
            for c in ro["spec"]["template"]["spec"]["containers"]
        ]
        # a merge patch replaces lists whole: send every container, only images changed
        full = []
        for c, new in zip(ro["spec"]["template"]["spec"]["containers"], containers, strict=True):
            full.append({**c, "image": new["image"]})
        patch = {
            "metadata": {"annotations": {RUN_ANNOTATION: plan.undo["run_id"]}},
            "spec": {
                "template": {"spec": {"containers": full}},
                "strategy": {"canary": {"steps": plan.detail["steps"]}},
            },
        }
        self._custom("patch", ROLLOUTS, plan.undo["name"], patch, _content_type=MERGE_PATCH)
        return {"rollout": plan.undo["name"], "images": images, "steps": plan.detail["steps"]}

    def _rollout(self, name: str) -> dict[str, Any]:
        return dict(self._custom("get", ROLLOUTS, name))

    def rollout_progress(self, name: str, until: float) -> list[dict[str, Any]]:
        """Watch a Rollout's steps, analysis and abort until it settles or ``until`` seconds pass."""
        group, version, plural = ROLLOUTS
        seen: list[dict[str, Any]] = []

        def settled(items: list[Any]) -> bool:
            for ro in items:
                if ro["metadata"]["name"] != name:
                    continue
                st = ro.get("status", {})
                entry = {
                    "phase": st.get("phase"),
                    "step": st.get("currentStepIndex"),
                    "abort": bool(st.get("abort")),
                    "analysis": (
                        st.get("canary", {}).get("currentStepAnalysisRunStatus") or {}
                    ).get("status"),
                }
                if not seen or seen[-1] != entry:
                    seen.append(entry)
                return bool(entry["abort"]) or entry["phase"] in ("Healthy", "Degraded")
            return False

        self.api.watch_until(
            (group, plural, "list"),
            self.api.custom.list_namespaced_custom_object,
            settled,
            until,
            group=group,
            version=version,
            namespace=self.namespace,
            plural=plural,
            field_selector=f"metadata.name={name}",
        )
        return seen

    def _start_canary(self, plan: FaultPlan) -> dict[str, Any]:
        stable = self.api.call(
            ("apps", "deployments", "get"),
            self.api.apps.read_namespaced_deployment,
            plan.undo["stable"],
            self.namespace,
        )
        raw = self.api.client.sanitize_for_serialization(stable)
        labels = dict(plan.undo["labels"])
        tmpl = raw["spec"]["template"]
        tmpl["metadata"]["labels"] = {
            **tmpl["metadata"].get("labels", {}),
            **labels,
            TRACK_LABEL: "canary",
        }
        for c in tmpl["spec"]["containers"]:
            c["image"] = with_tag(c["image"], str(plan.undo["version"]))
        selector = raw["spec"]["selector"]
        selector["matchLabels"] = {**selector.get("matchLabels", {}), TRACK_LABEL: "canary"}
        shares = [float(s) for s in plan.detail["shares"]]
        base_replicas = int(stable.spec.replicas or 1)
        body: dict[str, Any] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": plan.undo["name"],
                "namespace": self.namespace,
                "labels": {**(raw["metadata"].get("labels") or {}), **labels},
                "annotations": {RUN_ANNOTATION: plan.undo["run_id"]},
            },
            "spec": {
                "replicas": canary_replicas(base_replicas, shares[0]),
                "selector": selector,
                "template": tmpl,
            },
        }
        with _already_exists_ok():
            self.api.call(
                ("apps", "deployments", "create"),
                self.api.apps.create_namespaced_deployment,
                self.namespace,
                body,
            )
        if len(shares) > 1:
            stop = threading.Event()
            self._steppers[str(plan.undo["name"])] = stop
            threading.Thread(
                target=self._step_canary,
                args=(
                    str(plan.undo["name"]),
                    base_replicas,
                    shares[1:],
                    float(plan.detail["interval_s"]),
                    stop,
                ),
                daemon=True,
                name=f"canary-{plan.undo['name']}",
            ).start()
        return {
            "canary": plan.undo["name"],
            "replicas": body["spec"]["replicas"],
            "share": shares[0],
        }

    def _step_canary(
        self, name: str, base: int, shares: list[float], interval: float, stop: threading.Event
    ) -> None:
        for share in shares:
            if stop.wait(interval):
                return
            with contextlib.suppress(TargetError):
                self._set_replicas("Deployment", name, canary_replicas(base, share))

    # --- revert -----------------------------------------------------------------------------

    def revert(self, plan: FaultPlan) -> Mapping[str, Any]:
        """Undo a plan; idempotent, and harmless for a plan that was never applied."""
        if plan.driver != DRIVER:
            from . import target_from_spec

            return target_from_spec(plan.driver, plan.spec).revert(plan)
        kind = plan.undo.get("kind")
        if kind == "recreated":
            result: dict[str, Any] = {"recreated_by": "the pods' controller"}
        elif kind == "scale":
            result = self._scale_back(plan)
        elif kind == "networkpolicies":
            result = self._delete_policies(plan)
        elif kind == "chaos":
            result = self._delete_chaos(plan)
        elif kind == "rollout":
            result = self._abort_rollout(plan)
        elif kind == "canary":
            result = self._delete_canary(plan)
        else:
            raise UnsupportedFault(f"cannot revert plan kind {kind!r}")
        self._event(plan, "GamedayFaultReverted", f"gameday reverted {plan.action}")
        return result

    def _scale_back(self, plan: FaultPlan) -> dict[str, Any]:
        restored: dict[str, int] = {}
        for w in plan.undo["workloads"]:
            obj = self._read_workload(w["kind"], w["name"], optional=True)
            ann = (obj.metadata.annotations or {}) if obj is not None else {}
            if obj is None or STOPPED_BY_ANNOTATION not in ann:
                continue  # never applied, already restored, or deleted since
            replicas = int(ann.get(RESTORE_ANNOTATION, w["replicas"] or 0))
            self._set_replicas(w["kind"], w["name"], replicas)
            self._patch_workload(
                w["kind"],
                w["name"],
                {
                    "metadata": {
                        "annotations": {RESTORE_ANNOTATION: None, STOPPED_BY_ANNOTATION: None}
                    }
                },
            )
            restored[f"{w['kind'].lower()}/{w['name']}"] = replicas
        return {"restored": restored}

    def _delete_policies(self, plan: FaultPlan) -> dict[str, Any]:
        deleted = []
        for name in plan.undo["names"]:
            if (
                self.api.optional(
                    ("networking.k8s.io", "networkpolicies", "delete"),
                    self.api.net.delete_namespaced_network_policy,
                    name,
                    str(plan.undo["namespace"]),
                )
                is not None
            ):
                deleted.append(name)
        return {"deleted": deleted}

    def _delete_chaos(self, plan: FaultPlan) -> dict[str, Any]:
        plural, name = str(plan.undo["plural"]), str(plan.undo["name"])
        gone = self._custom("delete", _chaos_resource(plural), name, optional=True) is None
        # Chaos Mesh keeps the object (finalizer) until every record is recovered
        ok, obj = self._wait_chaos(plural, name, injected=False)
        if not ok:
            raise TargetError(
                f"{plan.undo['chaos_kind']} {name} still injected {self.wait_s:g}s after delete: "
                f"{_chaos_summary(obj)}"
            )
        return {"deleted": f"{plan.undo['chaos_kind']}/{name}", "already_gone": gone}

    def _abort_rollout(self, plan: FaultPlan) -> dict[str, Any]:
        name = str(plan.undo["name"])
        ro = self._custom("get", ROLLOUTS, name, optional=True)
        if ro is None:
            return {"skipped": f"rollout {name} is gone"}
        containers = ro["spec"]["template"]["spec"]["containers"]
        original = dict(plan.undo["images"])
        if all(original.get(c["name"], c["image"]) == c["image"] for c in containers):
            return {"rollout": name, "already": "on the previous images"}
        st = ro.get("status", {})
        result: dict[str, Any] = {
            "rollout": name,
            "phase": st.get("phase"),
            "aborted_by_analysis": bool(st.get("abort")),
        }
        completed = st.get("phase") == "Healthy" and st.get("stableRS") == st.get("currentPodHash")
        if not st.get("abort") and not completed:
            # what `kubectl argo rollouts abort` does: status.abort on the status subresource
            self._patch_rollout_status(name, {"abort": True})
            result["aborted"] = True
        spec_patch: dict[str, Any] = {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {**c, "image": original.get(c["name"], c["image"])} for c in containers
                        ]
                    }
                }
            }
        }
        if plan.undo.get("steps") is not None:
            spec_patch["spec"]["strategy"] = {"canary": {"steps": plan.undo["steps"]}}
        self._custom("patch", ROLLOUTS, name, spec_patch, _content_type=MERGE_PATCH)
        if completed:
            # the bad version became stable: go straight back, skipping the canary steps
            self._patch_rollout_status(name, {"promoteFull": True})
            result["promoted_full"] = True
        result["images"] = original
        return result

    def _patch_rollout_status(self, name: str, status: dict[str, Any]) -> None:
        """Merge-patch a Rollout's status subresource, as the Argo kubectl plugin does."""
        group, version, plural = ROLLOUTS
        self.api.call(
            (group, "rollouts/status", "patch"),
            self.api.custom.patch_namespaced_custom_object_status,
            group,
            version,
            self.namespace,
            plural,
            name,
            {"status": status},
            _content_type=MERGE_PATCH,
        )

    def _delete_canary(self, plan: FaultPlan) -> dict[str, Any]:
        name = str(plan.undo["name"])
        stop = self._steppers.pop(name, None)
        if stop is not None:
            stop.set()
        gone = (
            self.api.optional(
                ("apps", "deployments", "delete"),
                self.api.apps.delete_namespaced_deployment,
                name,
                self.namespace,
                propagation_policy="Foreground",
            )
            is None
        )
        sel = f"{TRACK_LABEL}=canary,{FAULT_LABEL}={plan.undo['labels'][FAULT_LABEL]},{RUN_LABEL}={plan.undo['labels'][RUN_LABEL]}"
        ok, left = self.api.watch_until(
            ("", "pods", "list"),
            self.api.core.list_namespaced_pod,
            lambda items: not items,
            self.wait_s,
            namespace=self.namespace,
            label_selector=sel,
        )
        if not ok:
            raise TargetError(
                f"canary pods still running: {', '.join(p['metadata']['name'] for p in left)}"
            )
        return {"deleted": f"deployment/{name}", "already_gone": gone}

    # --- recover by labels ------------------------------------------------------------------

    def sweep(self, run_id: str | None = None) -> dict[str, Any]:
        """Delete every object gameday created in the namespace (of one run, or of all runs)."""
        sel = f"{MANAGED_BY}=gameday" + (f",{RUN_LABEL}={label_value(run_id)}" if run_id else "")
        out: dict[str, Any] = {"networkpolicies": [], "deployments": [], "chaos": [], "scaled": []}
        typed_kinds: tuple[_SweptKind, ...] = (
            (
                "networking.k8s.io",
                "networkpolicies",
                self.api.net.list_namespaced_network_policy,
                self.api.net.delete_namespaced_network_policy,
                {},
            ),
            (
                "apps",
                "deployments",
                self.api.apps.list_namespaced_deployment,
                self.api.apps.delete_namespaced_deployment,
                {"propagation_policy": "Foreground"},
            ),
        )
        for group, plural, list_fn, delete_fn, delete_options in typed_kinds:
            listed = self.api.call(
                (group, plural, "list"), list_fn, self.namespace, label_selector=sel
            )
            for obj in listed.items:
                self.api.optional(
                    (group, plural, "delete"),
                    delete_fn,
                    obj.metadata.name,
                    self.namespace,
                    **delete_options,
                )
                out[plural].append(obj.metadata.name)
        caps = self.capabilities()
        for kind, plural in CHAOS_KINDS.items():
            if not caps.get(kind):
                continue
            chaos = _chaos_resource(plural)
            for item in self._custom("list", chaos, label_selector=sel).get("items", []):
                self._custom("delete", chaos, item["metadata"]["name"], optional=True)
                out["chaos"].append(f"{kind}/{item['metadata']['name']}")
        # workloads scaled to zero carry their restore count in an annotation
        for kind, plural in WORKLOAD_KINDS.items():
            lister = getattr(self.api.apps, f"list_namespaced_{_snake(kind)}")
            for obj in self.api.call(("apps", plural, "list"), lister, self.namespace).items:
                by = (obj.metadata.annotations or {}).get(STOPPED_BY_ANNOTATION)
                if by and (run_id is None or by.startswith(run_id + "/")):
                    fake = FaultPlan(
                        by,
                        "stop",
                        DRIVER,
                        self.spec(),
                        {
                            "kind": "scale",
                            "workloads": [{"kind": kind, "name": obj.metadata.name, "replicas": 0}],
                        },
                    )
                    out["scaled"].append(self._scale_back(fake)["restored"])
        return out

    # --- events -----------------------------------------------------------------------------

    def _event(self, plan: FaultPlan, reason: str, message: str) -> None:
        """Best effort: an Event in the namespace, so `kubectl get events` shows the drill."""
        now = datetime.now(UTC)
        labels = dict(plan.undo.get("labels") or self.labels(plan.fault))
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "generateName": "gameday-",
                "namespace": self.namespace,
                "labels": labels,
            },
            "involvedObject": {"kind": "Namespace", "name": self.namespace, "apiVersion": "v1"},
            "reason": reason,
            "message": message[:1000],
            "type": "Warning" if reason.endswith("Injected") else "Normal",
            "source": {"component": "gameday"},
            "firstTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lastTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "count": 1,
            "reportingComponent": "gameday",
            "reportingInstance": label_value(str(plan.undo.get("run_id") or self.run_id)),
        }
        with contextlib.suppress(TargetError):  # an audit nicety never blocks a fault
            self.api.call(
                ("", "events", "create"),
                self.api.core.create_namespaced_event,
                self.namespace,
                body,
            )


# --- helpers -----------------------------------------------------------------------------------


def selector_string(sel: Mapping[str, Any]) -> str:
    """A LabelSelector in the query syntax (``a=b,c in (d),!e``)."""
    parts = [f"{k}={v}" for k, v in (sel.get("matchLabels") or {}).items()]
    for expr in sel.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            parts.append(f"{key} {op.lower()} ({','.join(values)})")
    return ",".join(parts)


def _not_any(selectors: list[dict[str, Any]]) -> dict[str, Any]:
    """A pod selector matching pods that none of ``selectors`` matches (one label each)."""
    exprs: list[dict[str, Any]] = []
    names: dict[str, list[str]] = {}
    for sel in selectors:
        for key, value in (sel.get("matchLabels") or {}).items():
            names.setdefault(key, []).append(value)
        for e in sel.get("matchExpressions") or []:
            exprs.append({"key": e["key"], "operator": "DoesNotExist"})
    for key, values in names.items():
        exprs.append({"key": key, "operator": "NotIn", "values": sorted(values)})
    return {"matchExpressions": exprs}


def canary_replicas(stable: int, share: float) -> int:
    """Canary replicas so that canary / (stable + canary) ≈ ``share`` (at least one)."""
    if share >= 1:
        return max(1, stable)
    return max(1, math.ceil(stable * share / (1 - share)))


def with_tag(image: str, tag: str) -> str:
    """``image`` with its tag (or digest) replaced by ``tag``."""
    base = image.split("@", 1)[0]
    slash = base.rfind("/")
    colon = base.rfind(":")
    if colon > slash:
        base = base[:colon]
    return f"{base}:{tag}"


def _chaos_resource(plural: str) -> _CustomResource:
    """The (group, version, plural) of a Chaos Mesh kind."""
    return CHAOS_GROUP, CHAOS_VERSION, plural


@contextlib.contextmanager
def _already_exists_ok() -> Iterator[None]:
    """Let a create's 409 AlreadyExists pass: a retried apply finds its object made."""
    try:
        yield
    except ApiError as exc:
        if exc.status != 409:
            raise


def _snake(kind: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower()


def _pod_ready(pod: Any) -> bool:
    for cond in (pod.status.conditions or []) if pod.status else []:
        if cond.type == "Ready":
            return bool(cond.status == "True")
    return False


def _chaos_summary(obj: Mapping[str, Any] | None) -> str:
    if obj is None:
        return "deleted"
    records = obj.get("status", {}).get("experiment", {}).get("containerRecords") or []
    if not records:
        return "no records yet"
    return ", ".join(f"{r.get('id')}: {r.get('phase')}" for r in records)
