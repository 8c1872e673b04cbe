"""The Kubernetes driver's core: configuration, the API client, services resolved to pods
and workloads, preflight, variables and health.

The faults themselves are the actions in ``actions``, one module per family; apply and
revert add an audit Event (``events``) around them.
"""

from __future__ import annotations

import contextlib
import difflib
import re
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from ...scenarios.model import AnyFault, KubernetesTarget
from ..base import FaultAction, FaultPlan, Health, Target, TargetError, UnknownService
from .api import (
    CHAOS_GROUP,
    CHAOS_KINDS,
    CHAOS_VERSION,
    ROLLOUTS,
    WORKLOAD_KINDS,
    Api,
    ApiError,
    CustomResource,
    load_api_client,
)
from .chaos import LatencyAction, PauseAction
from .events import record_event
from .labels import (
    DRILL_LABEL,
    FAULT_LABEL,
    GROUP_PREFIX,
    MANAGED_BY,
    RUN_LABEL,
    STAGING_LABEL,
    STOPPED_BY_ANNOTATION,
    label_value,
    selector_string,
)
from .policies import NetworkCutAction, PartitionAction
from .releases import GrayReleaseAction, rollout_progress
from .sweep import sweep
from .workloads import CrashAction, StopAction

DRIVER = "kubernetes"


class KubernetesDriver(Target):
    """The ``Target`` for workloads in one namespace."""

    name = DRIVER
    actions: ClassVar[Mapping[str, FaultAction[Any]]] = {
        "crash": CrashAction(),
        "stop": StopAction(),
        "network-cut": NetworkCutAction(),
        "partition": PartitionAction(),
        "latency": LatencyAction(),
        "pause": PauseAction(),
        "gray-release": GrayReleaseAction(),
    }

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
        self.steppers: dict[str, threading.Event] = {}  # canary Deployment -> stop its steps

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

    def bind_run(self, run_id: str, scenario: str) -> None:
        """Name the run and drill that label every object this driver creates."""
        self.run_id, self.drill = run_id, scenario

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
        for stop in self.steppers.values():
            stop.set()
        self.steppers.clear()
        if self._api_client is not None:
            with contextlib.suppress(Exception):
                self._api_client.close()
        self._api_client = None
        self._api = None

    # --- labels, services, workloads -----------------------------------------------------

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
        found = self._find(service)
        if found is None:
            raise TargetError(self._unknown(service))
        return found

    def _find(self, service: str) -> dict[str, Any] | None:
        by_name = self.selector(service)
        if self.pods(by_name):
            return by_name
        by_group = self.selector("group:" + service)
        return by_group if self.pods(by_group) else None

    def _unknown(self, service: str) -> UnknownService:
        """No pod carries the service's name or group label; names a close one the pods carry."""
        names: set[str] = set()
        for pod in self.pods({}):
            labels = pod.metadata.labels or {}
            names.add(str(labels.get(self.selector_label) or ""))
            names.update(k.removeprefix(GROUP_PREFIX) for k in labels if k.startswith(GROUP_PREFIX))
        close = difflib.get_close_matches(service, sorted(names - {""}), n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return UnknownService(
            service,
            f"no pod in namespace {self.namespace} carries {self.selector_label}={service} "
            f"or the label {GROUP_PREFIX}{service}{hint}",
        )

    def pods(self, selector: Mapping[str, Any]) -> list[Any]:
        """The pods ``selector`` matches, less those being deleted."""
        pods = self.api.call(
            ("", "pods", "list"),
            self.api.core.list_namespaced_pod,
            self.namespace,
            label_selector=selector_string(selector),
        ).items
        return [p for p in pods if p.metadata.deletion_timestamp is None]

    def workloads(self, service: str) -> list[dict[str, Any]]:
        """The service's Deployments and StatefulSets, as plans journal them."""
        # the canary Deployments gameday itself creates are not the service's workloads
        sel = f"{self.selector_label}={service},{MANAGED_BY}!=gameday"
        return [
            {"kind": kind, "name": obj.metadata.name, "replicas": obj.spec.replicas}
            for kind, obj in self.list_workloads(sel)
        ]

    # --- API helpers ------------------------------------------------------------------------

    def custom(
        self,
        verb: str,
        resource: CustomResource,
        *args: Any,
        optional: bool = False,
        **kwargs: Any,
    ) -> Any:
        """``<verb>_namespaced_custom_object`` on ``resource`` in the namespace.

        ``args`` follow the plural (name, body); ``optional`` makes a 404 None.
        """
        group, version, plural = resource
        method = getattr(self.api.custom, f"{verb}_namespaced_custom_object")
        call: Callable[..., Any] = self.api.optional if optional else self.api.call
        return call(
            (group, plural, verb), method, group, version, self.namespace, plural, *args, **kwargs
        )

    def apps_method(self, verb: str, kind: str, suffix: str = "") -> Callable[..., Any]:
        """The AppsV1Api method ``<verb>_namespaced_<kind><suffix>`` (suffix: "", "_scale")."""
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower()
        method: Callable[..., Any] = getattr(self.api.apps, f"{verb}_namespaced_{snake}{suffix}")
        return method

    def list_workloads(self, label_selector: str | None = None) -> Iterator[tuple[str, Any]]:
        """(kind, object) of every Deployment, then every StatefulSet (matching the selector)."""
        kwargs = {} if label_selector is None else {"label_selector": label_selector}
        for kind, plural in WORKLOAD_KINDS.items():
            listed = self.api.call(
                ("apps", plural, "list"), self.apps_method("list", kind), self.namespace, **kwargs
            )
            for obj in listed.items:
                yield kind, obj

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
                if self._find(service) is None:
                    problems.append(self._unknown(service))
            except TargetError as exc:  # the API refused or failed: not the scenario's mistake
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

    # --- plans, apply and revert (the actions do the work) ---------------------------------

    def fault_plan(
        self,
        fault: AnyFault,
        undo: Mapping[str, Any],
        touches: tuple[str, ...],
        detail: Mapping[str, Any] | None = None,
    ) -> FaultPlan:
        """This driver's plan for ``fault``; ``undo`` follows the run's namespace and labels.

        A new process rebuilds the driver from ``spec()`` and reverts from the plan alone.
        """
        base = {
            "namespace": self.namespace,
            "labels": self.labels(fault.label()),
            "run_id": self.run_id,
            "drill": self.drill,
        }
        return FaultPlan(
            fault.label(),
            fault.action,
            DRIVER,
            self.spec(),
            {**base, **undo},
            touches,
            {} if detail is None else detail,
        )

    def apply(self, plan: FaultPlan) -> Mapping[str, Any]:
        """Apply a planned fault and confirm the cluster took it."""
        record_event(
            self, plan, "GamedayFaultInjected", f"gameday {plan.action}: {', '.join(plan.touches)}"
        )
        return super().apply(plan)

    def revert(self, plan: FaultPlan) -> Mapping[str, Any]:
        """Undo a plan; idempotent, and harmless for a plan that was never applied."""
        result = super().revert(plan)
        record_event(self, plan, "GamedayFaultReverted", f"gameday reverted {plan.action}")
        return result

    def rollout_progress(self, name: str, until: float) -> list[dict[str, Any]]:
        """Watch a Rollout's steps, analysis and abort until it settles or ``until`` seconds pass."""
        return rollout_progress(self, name, until)

    def sweep(self, run_id: str | None = None) -> dict[str, Any]:
        """Delete every object gameday created in the namespace (of one run, or of all runs)."""
        return sweep(self, run_id)


def _pod_ready(pod: Any) -> bool:
    for cond in (pod.status.conditions or []) if pod.status else []:
        if cond.type == "Ready":
            return bool(cond.status == "True")
    return False
