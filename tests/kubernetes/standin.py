"""A small Kubernetes API stand-in on 127.0.0.1 for the driver's tests.

It serves the real REST paths and object shapes of the resources the driver uses, with
resourceVersions, label and field selectors, watch streams (chunked, one JSON event per
line, ``ERROR`` 410 Expired for a compacted resourceVersion), merge patches, uid and
resourceVersion preconditions (409 Conflict), AlreadyExists, finalizers, discovery
(``/apis``) and RBAC: every request is authorised against the Role rules it is given, and
refused with the API server's own ``Status`` (403 Forbidden) otherwise. Tiny controllers
stand in for the ReplicaSet/StatefulSet controllers, Chaos Mesh and Argo Rollouts.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

USER = "system:serviceaccount:gameday:gameday"
KINDS: dict[tuple[str, str], tuple[str, str]] = {
    # (group, plural) -> (version, Kind)
    ("", "namespaces"): ("v1", "Namespace"),
    ("", "pods"): ("v1", "Pod"),
    ("", "events"): ("v1", "Event"),
    ("apps", "deployments"): ("v1", "Deployment"),
    ("apps", "statefulsets"): ("v1", "StatefulSet"),
    ("networking.k8s.io", "networkpolicies"): ("v1", "NetworkPolicy"),
    ("argoproj.io", "rollouts"): ("v1alpha1", "Rollout"),
    ("chaos-mesh.org", "networkchaos"): ("v1alpha1", "NetworkChaos"),
    ("chaos-mesh.org", "podchaos"): ("v1alpha1", "PodChaos"),
    ("chaos-mesh.org", "stresschaos"): ("v1alpha1", "StressChaos"),
}
CRD_GROUPS = {"argoproj.io", "chaos-mesh.org"}
CHAOS_PLURALS = {"networkchaos", "podchaos", "stresschaos"}


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A ``metav1.Status`` failure, as the API server writes it."""
    out: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        out["details"] = details
    return out


def qualified(group: str, plural: str) -> str:
    return f"{plural}.{group}" if group else plural


class ApiFailure(Exception):
    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body["message"])
        self.body = body


def not_found(group: str, plural: str, name: str) -> ApiFailure:
    return ApiFailure(
        status(
            404,
            "NotFound",
            f'{qualified(group, plural)} "{name}" not found',
            {"name": name, "group": group, "kind": plural}
            if group
            else {"name": name, "kind": plural},
        )
    )


def conflict(group: str, plural: str, name: str, why: str) -> ApiFailure:
    return ApiFailure(
        status(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {qualified(group, plural)} "{name}": {why}',
            {"name": name, "group": group, "kind": plural}
            if group
            else {"name": name, "kind": plural},
        )
    )


# --------------------------------------------------------------------------- selectors

_REQ = re.compile(
    r"\s*(!?)([A-Za-z0-9./_-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9._-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$"
)


def split_selector(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def label_match(selector: str, labels: dict[str, str]) -> bool:
    """The label selector query syntax of the API (=, ==, !=, in, notin, exists, !key)."""
    for req in split_selector(selector):
        m = _REQ.match(req)
        if not m:
            raise ApiFailure(status(400, "BadRequest", f"unable to parse requirement: {req!r}"))
        neg, key, op, value, setop, values = m.groups()
        if op in ("=", "=="):
            ok = labels.get(key) == value
        elif op == "!=":
            ok = labels.get(key) != value
        elif setop:
            vals = {v.strip() for v in values.split(",") if v.strip()}
            ok = labels.get(key) in vals if setop == "in" else labels.get(key) not in vals
        else:
            ok = (key in labels) != bool(neg)
        if not ok:
            return False
    return True


def expressions_match(sel: dict[str, Any], labels: dict[str, str]) -> bool:
    """A structured LabelSelector (matchLabels + matchExpressions)."""
    if any(labels.get(k) != v for k, v in (sel.get("matchLabels") or {}).items()):
        return False
    for e in sel.get("matchExpressions") or []:
        key, op, vals = e["key"], e["operator"], set(e.get("values") or [])
        ok = {
            "In": labels.get(key) in vals,
            "NotIn": labels.get(key) not in vals,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def field_match(selector: str, obj: dict[str, Any]) -> bool:
    for req in split_selector(selector):
        key, _, value = req.partition("=")
        key = key.rstrip("=!")
        if key == "metadata.name":
            actual = obj["metadata"]["name"]
        elif key == "metadata.namespace":
            actual = obj["metadata"].get("namespace")
        else:
            raise ApiFailure(
                status(
                    400,
                    "BadRequest",
                    f'"{key}" is not a known field selector: only "metadata.name", "metadata.namespace"',
                )
            )
        if (actual == value.lstrip("=")) == ("!=" in req):
            return False
    return True


def template_hash(template: dict[str, Any]) -> str:
    """A pod-template-hash stand-in: equal templates, equal hashes."""
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# --------------------------------------------------------------------------- RBAC


@dataclass
class Rule:
    groups: set[str]
    resources: set[str]
    verbs: set[str]
    names: set[str] = field(default_factory=set)


def rules_from_role(role: dict[str, Any]) -> list[Rule]:
    return [
        Rule(
            set(r.get("apiGroups", [])),
            set(r.get("resources", [])),
            set(r.get("verbs", [])),
            set(r.get("resourceNames", [])),
        )
        for r in role.get("rules", [])
    ]


# --------------------------------------------------------------------------- the server


class Cluster:
    """State of the stand-in: objects, event log, features, RBAC and what was served."""

    def __init__(
        self, namespace: str, *, rules: list[Rule] | None, rollouts: bool, chaos: bool
    ) -> None:
        self.namespace = namespace
        self.rules = rules
        self.features = {"argoproj.io": rollouts, "chaos-mesh.org": chaos}
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rv = 100
        self.objects: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self.log: list[
            tuple[int, str, str, str, dict[str, Any]]
        ] = []  # rv, type, group, plural, obj
        self.compacted = 0  # watches from a resourceVersion below this get 410 Expired
        self.served: set[tuple[str, str, str]] = set()
        self.requests: list[tuple[str, str, str]] = []  # method, path, content-type
        self.denied: list[str] = []
        self.controllers = True
        self.expire_watches = 0  # the next N watches answer 410 Expired (resourceVersion too old)
        self.chaos_delay = 0.05
        self.reconcile_delay = 0.02

    # --- storage ---

    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def record(self, etype: str, group: str, plural: str, obj: dict[str, Any]) -> None:
        self.log.append(
            (int(obj["metadata"]["resourceVersion"]), etype, group, plural, copy.deepcopy(obj))
        )
        self.changed.notify_all()

    def put(
        self, group: str, plural: str, obj: dict[str, Any], etype: str | None = None
    ) -> dict[str, Any]:
        with self.lock:
            meta = obj["metadata"]
            key = (group, plural, meta.get("namespace", ""), meta["name"])
            existed = key in self.objects
            meta["resourceVersion"] = str(self.next_rv())
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", now())
            version, kind = KINDS[(group, plural)]
            obj["apiVersion"] = f"{group}/{version}" if group else version
            obj["kind"] = kind
            self.objects[key] = obj
            self.record(etype or ("MODIFIED" if existed else "ADDED"), group, plural, obj)
            return obj

    def remove(self, group: str, plural: str, ns: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            obj = self.objects.pop((group, plural, ns, name), None)
            if obj is not None:
                obj["metadata"]["resourceVersion"] = str(self.next_rv())
                self.record("DELETED", group, plural, obj)
            return obj

    def get(self, group: str, plural: str, ns: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            return self.objects.get((group, plural, ns, name))

    def items(self, group: str, plural: str, ns: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                o
                for (g, p, n, _), o in sorted(self.objects.items())
                if g == group and p == plural and n == ns
            ]

    def compact(self) -> None:
        """Forget the event log up to now, as etcd compaction does."""
        with self.lock:
            self.compacted = self.rv
            self.log.clear()

    # --- seeding ---

    def add_namespace(self, name: str, labels: dict[str, str]) -> None:
        self.put(
            "",
            "namespaces",
            {
                "metadata": {
                    "name": name,
                    "labels": {"kubernetes.io/metadata.name": name, **labels},
                },
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            },
        )

    def add_deployment(
        self,
        name: str,
        labels: dict[str, str],
        replicas: int,
        image: str = "registry.example/payments-api:v1",
        pod_labels: dict[str, str] | None = None,
        kind: str = "Deployment",
    ) -> dict[str, Any]:
        plural = "deployments" if kind == "Deployment" else "statefulsets"
        tmpl_labels = {**labels, **(pod_labels or {})}
        spec: dict[str, Any] = {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": tmpl_labels},
                "spec": {
                    "containers": [
                        {"name": "app", "image": image, "ports": [{"containerPort": 8080}]}
                    ]
                },
            },
        }
        if kind == "StatefulSet":
            spec["serviceName"] = name
        obj = self.put(
            "apps",
            plural,
            {
                "metadata": {
                    "name": name,
                    "namespace": self.namespace,
                    "labels": dict(labels),
                    "generation": 1,
                },
                "spec": spec,
                "status": {},
            },
        )
        self.reconcile()
        return obj

    def add_rollout(self, name: str, labels: dict[str, str], image: str) -> None:
        self.put(
            "argoproj.io",
            "rollouts",
            {
                "metadata": {
                    "name": name,
                    "namespace": self.namespace,
                    "labels": dict(labels),
                    "generation": 1,
                },
                "spec": {
                    "replicas": 4,
                    "selector": {"matchLabels": dict(labels)},
                    "template": {
                        "metadata": {"labels": dict(labels)},
                        "spec": {"containers": [{"name": "app", "image": image}]},
                    },
                    "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}},
                },
                "status": {"phase": "Healthy", "observedGeneration": "1"},
            },
        )
        ro = copy.deepcopy(self.get("argoproj.io", "rollouts", self.namespace, name))
        phash = template_hash(ro["spec"]["template"])
        ro["status"].update(stableRS=phash, currentPodHash=phash)
        self.put("argoproj.io", "rollouts", ro)

    # --- controllers ---

    def reconcile(self) -> None:
        """The ReplicaSet/StatefulSet controllers: pods follow each workload's replicas."""
        if not self.controllers:
            return
        with self.lock:
            for plural in ("deployments", "statefulsets"):
                for wl in self.items("apps", plural, self.namespace):
                    if wl["metadata"].get("deletionTimestamp"):
                        continue
                    self._reconcile_one(plural, wl)

    def _reconcile_one(self, plural: str, wl: dict[str, Any]) -> None:
        want = int(wl["spec"].get("replicas", 1))
        uid = wl["metadata"]["uid"]
        pods = [
            p
            for p in self.items("", "pods", self.namespace)
            if any(o["uid"] == uid for o in p["metadata"].get("ownerReferences", []))
        ]
        tmpl = wl["spec"]["template"]
        phash = hashlib.sha256(json.dumps(tmpl, sort_keys=True).encode()).hexdigest()[:10]
        name = wl["metadata"]["name"]
        for pod in (
            pods[want:]
            if plural == "deployments"
            else [p for p in pods if int(p["metadata"]["name"].rsplit("-", 1)[1]) >= want]
        ):
            self.remove("", "pods", self.namespace, pod["metadata"]["name"])
        have = {p["metadata"]["name"] for p in pods}
        missing = want - len(pods) if plural == "deployments" else 0
        names: list[str] = []
        if plural == "statefulsets":
            names = [f"{name}-{i}" for i in range(want) if f"{name}-{i}" not in have]
        else:
            names = [f"{name}-{phash}-{uuid.uuid4().hex[:5]}" for _ in range(max(0, missing))]
        for pod_name in names:
            labels = dict(tmpl["metadata"].get("labels", {}))
            if plural == "deployments":
                labels["pod-template-hash"] = phash
            self.put(
                "",
                "pods",
                {
                    "metadata": {
                        "name": pod_name,
                        "namespace": self.namespace,
                        "labels": labels,
                        "ownerReferences": [
                            {
                                "apiVersion": "apps/v1",
                                "kind": "ReplicaSet" if plural == "deployments" else "StatefulSet",
                                "name": name,
                                "uid": uid,
                                "controller": True,
                            }
                        ],
                    },
                    "spec": copy.deepcopy(tmpl["spec"]),
                    "status": {
                        "phase": "Running",
                        "conditions": [{"type": "Ready", "status": "True"}],
                    },
                },
            )
        count = min(want, len(pods) + len(names))
        st = {
            "replicas": count,
            "readyReplicas": count,
            "availableReplicas": count,
            "updatedReplicas": count,
            "observedGeneration": wl["metadata"].get("generation", 1),
        }
        if wl.get("status") != st:
            wl["status"] = st
            self.put("apps", plural, wl)

    def later(self, delay: float, fn: Any) -> None:
        t = threading.Timer(delay, fn)
        t.daemon = True
        t.start()

    def chaos_injected(self, plural: str, name: str) -> None:
        """Chaos Mesh: select the pods, inject, and record each container."""
        with self.lock:
            obj = self.get("chaos-mesh.org", plural, self.namespace, name)
            if obj is None or obj["metadata"].get("deletionTimestamp"):
                return
            sel = obj["spec"].get("selector", {})
            structured = {
                "matchLabels": sel.get("labelSelectors"),
                "matchExpressions": sel.get("expressionSelectors"),
            }
            pods = [
                p
                for p in self.items("", "pods", self.namespace)
                if expressions_match(structured, p["metadata"].get("labels", {}))
            ]
            obj["status"] = {
                "conditions": [
                    {"type": "Selected", "status": "True"},
                    {"type": "AllInjected", "status": "True"},
                    {"type": "AllRecovered", "status": "False"},
                    {"type": "Paused", "status": "False"},
                ],
                "experiment": {
                    "desiredPhase": "Run",
                    "containerRecords": [
                        {
                            "id": f"{self.namespace}/{p['metadata']['name']}",
                            "selectorKey": ".",
                            "phase": "Injected",
                            "injectedCount": 1,
                            "recoveredCount": 0,
                        }
                        for p in pods
                    ],
                },
            }
            self.put("chaos-mesh.org", plural, obj)

    def chaos_recovered(self, plural: str, name: str) -> None:
        """Chaos Mesh on delete: recover every record, then drop the finalizer."""
        with self.lock:
            obj = self.get("chaos-mesh.org", plural, self.namespace, name)
            if obj is None:
                return
            exp = obj.setdefault("status", {}).setdefault("experiment", {})
            exp["desiredPhase"] = "Stop"
            for r in exp.get("containerRecords", []):
                r["phase"], r["recoveredCount"] = "NotInjected", r.get("injectedCount", 1)
            self.put("chaos-mesh.org", plural, obj)
        self.later(self.chaos_delay, lambda: self._drop_finalizer(plural, name))

    def _drop_finalizer(self, plural: str, name: str) -> None:
        with self.lock:
            obj = self.get("chaos-mesh.org", plural, self.namespace, name)
            if obj is not None:
                obj["metadata"]["finalizers"] = []
                self.remove("chaos-mesh.org", plural, self.namespace, name)

    # --- RBAC ---

    def authorize(self, group: str, resource: str, verb: str, ns: str, name: str | None) -> None:
        self.served.add((group, resource, verb))
        if self.rules is None:
            return
        for r in self.rules:
            if (
                (group in r.groups or "*" in r.groups)
                and (resource in r.resources or "*" in r.resources)
                and (verb in r.verbs or "*" in r.verbs)
                and (not r.names or (name and name in r.names))
            ):
                return
        plural = resource.split("/")[0]
        what = f'{qualified(group, plural)} "{name}"' if name else qualified(group, plural)
        if "/" in resource:
            what = f'{qualified(group, plural)} "{name}"'
        message = (
            f'{what} is forbidden: User "{USER}" cannot {verb} resource "{resource}" '
            f'in API group "{group}" in the namespace "{ns}"'
        )
        details: dict[str, Any] = {"kind": plural}
        if group:
            details["group"] = group
        if name:
            details["name"] = name
        self.denied.append(message)
        raise ApiFailure(status(403, "Forbidden", message, details))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StandIn

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # --- plumbing ---

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        return json.loads(raw) if raw else None

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        c = self.server.cluster
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        with c.lock:
            c.requests.append((method, url.path, self.headers.get("Content-Type", "")))
        try:
            body = self._body() if method in ("POST", "PATCH", "PUT", "DELETE") else None
            self._route(method, url.path.rstrip("/"), query, body)
        except ApiFailure as f:
            self._send(f.body["code"], f.body)

    # --- routing ---

    def _route(self, method: str, path: str, q: dict[str, str], body: Any) -> None:
        c = self.server.cluster
        parts = path.strip("/").split("/")
        if (
            path in ("/api", "/apis")
            or (parts[0] == "apis" and len(parts) == 3)
            or path == "/api/v1"
        ):
            return self._discovery(parts)
        if parts[0] == "api" and parts[1] == "v1":
            group, rest = "", parts[2:]
        elif parts[0] == "apis" and len(parts) > 3:
            group, version, rest = parts[1], parts[2], parts[3:]
            if group in CRD_GROUPS and not c.features.get(group):
                raise ApiFailure(
                    status(404, "NotFound", "the server could not find the requested resource")
                )
            if KINDS.get((group, rest[2] if len(rest) > 2 else ""), ("", ""))[0] not in (
                "",
                version,
            ):
                raise ApiFailure(
                    status(404, "NotFound", "the server could not find the requested resource")
                )
        else:
            raise ApiFailure(
                status(404, "NotFound", "the server could not find the requested resource")
            )
        if rest[0] != "namespaces" or len(rest) < 2:
            raise ApiFailure(
                status(404, "NotFound", "the server could not find the requested resource")
            )
        ns = rest[1]
        if len(rest) == 2:  # the namespace object itself: RBAC sees namespace=name
            c.authorize("", "namespaces", "get", ns, ns)
            obj = c.get("", "namespaces", "", ns)
            if obj is None:
                raise not_found("", "namespaces", ns)
            return self._send(200, obj)
        plural = rest[2]
        if (group, plural) not in KINDS:
            raise ApiFailure(
                status(404, "NotFound", "the server could not find the requested resource")
            )
        name = rest[3] if len(rest) > 3 else None
        sub = rest[4] if len(rest) > 4 else None
        resource = f"{plural}/{sub}" if sub else plural
        if name is None:
            verb = {
                "GET": "watch" if q.get("watch") in ("true", "1") else "list",
                "POST": "create",
            }.get(method)
        else:
            verb = {"GET": "get", "PATCH": "patch", "DELETE": "delete", "PUT": "update"}.get(method)
        if verb is None:
            raise ApiFailure(
                status(
                    405,
                    "MethodNotAllowed",
                    "the server does not allow this method on the requested resource",
                )
            )
        c.authorize(group, resource, verb, ns, name)
        if verb == "watch":
            return self._watch(group, plural, ns, q)
        if verb == "list":
            return self._list(group, plural, ns, q)
        if verb == "create":
            return self._create(group, plural, ns, body)
        assert name is not None
        if sub == "scale":
            return self._scale(method, group, plural, ns, name, body)
        if verb == "get":
            obj = c.get(group, plural, ns, name)
            if obj is None:
                raise not_found(group, plural, name)
            return self._send(200, obj)
        if verb == "patch":
            return self._patch(group, plural, ns, name, body, status_only=sub == "status")
        if verb == "delete":
            return self._delete(group, plural, ns, name, q, body or {})
        raise ApiFailure(
            status(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )
        )

    def _discovery(self, parts: list[str]) -> None:
        c = self.server.cluster
        if parts == ["api"]:
            return self._send(
                200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
            )
        groups = {"apps": "v1", "networking.k8s.io": "v1"}
        groups.update({g: "v1alpha1" for g, on in c.features.items() if on})
        if parts == ["apis"]:
            return self._send(
                200,
                {
                    "kind": "APIGroupList",
                    "apiVersion": "v1",
                    "groups": [
                        {
                            "name": g,
                            "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
                            "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v},
                        }
                        for g, v in groups.items()
                    ],
                },
            )
        group, version = ("", "v1") if parts == ["api", "v1"] else (parts[1], parts[2])
        if group and groups.get(group) != version:
            raise ApiFailure(
                status(404, "NotFound", "the server could not find the requested resource")
            )
        resources = []
        for (g, plural), (v, kind) in KINDS.items():
            if g != group or v != version:
                continue
            resources.append(
                {
                    "name": plural,
                    "singularName": kind.lower(),
                    "namespaced": plural != "namespaces",
                    "kind": kind,
                    "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
                }
            )
            if g in CRD_GROUPS or g == "apps":
                resources.append(
                    {
                        "name": f"{plural}/status",
                        "singularName": "",
                        "namespaced": True,
                        "kind": kind,
                        "verbs": ["get", "patch", "update"],
                    }
                )
        return self._send(
            200,
            {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version,
                "resources": resources,
            },
        )

    def _selected(
        self, group: str, plural: str, ns: str, q: dict[str, str]
    ) -> list[dict[str, Any]]:
        c = self.server.cluster
        out = []
        for obj in c.items(group, plural, ns):
            if q.get("labelSelector") and not label_match(
                q["labelSelector"], obj["metadata"].get("labels", {})
            ):
                continue
            if q.get("fieldSelector") and not field_match(q["fieldSelector"], obj):
                continue
            out.append(obj)
        return out

    def _list(self, group: str, plural: str, ns: str, q: dict[str, str]) -> None:
        c = self.server.cluster
        with c.lock:
            items = copy.deepcopy(self._selected(group, plural, ns, q))
            rv = str(c.rv)
        version, kind = KINDS[(group, plural)]
        if group not in CRD_GROUPS:  # built-in lists carry no kind on their items
            for i in items:
                i.pop("kind", None)
                i.pop("apiVersion", None)
        self._send(
            200,
            {
                "kind": f"{kind}List",
                "apiVersion": f"{group}/{version}" if group else version,
                "metadata": {"resourceVersion": rv},
                "items": items,
            },
        )

    def _watch(self, group: str, plural: str, ns: str, q: dict[str, str]) -> None:
        c = self.server.cluster
        timeout = float(q.get("timeoutSeconds") or 30)
        deadline = time.monotonic() + timeout
        since = int(q.get("resourceVersion") or 0)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def emit(event: dict[str, Any]) -> None:
            data = json.dumps(event).encode() + b"\n"
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        with c.lock:
            if c.expire_watches > 0:
                c.expire_watches -= 1
                c.compacted = max(c.compacted, c.rv + 1)
            if since and since < c.compacted:
                emit(
                    {
                        "type": "ERROR",
                        "object": status(
                            410, "Expired", f"too old resource version: {since} ({c.compacted})"
                        ),
                    }
                )
                self.wfile.write(b"0\r\n\r\n")
                return
            if not since:
                since = c.rv
                for obj in self._selected(group, plural, ns, q):
                    emit({"type": "ADDED", "object": obj})
        try:
            while True:
                with c.lock:
                    pending = [
                        e for e in c.log if e[0] > since and e[2] == group and e[3] == plural
                    ]
                    if not pending:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        c.changed.wait(min(left, 0.2))
                        continue
                for rv, etype, _g, _p, obj in pending:
                    since = rv
                    if obj["metadata"].get("namespace") != ns:
                        continue
                    if q.get("labelSelector") and not label_match(
                        q["labelSelector"], obj["metadata"].get("labels", {})
                    ):
                        continue
                    if q.get("fieldSelector") and not field_match(q["fieldSelector"], obj):
                        continue
                    emit({"type": etype, "object": obj})
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _create(self, group: str, plural: str, ns: str, body: dict[str, Any]) -> None:
        c = self.server.cluster
        _version, kind = KINDS[(group, plural)]
        if not isinstance(body, dict) or body.get("kind", kind) != kind:
            raise ApiFailure(
                status(400, "BadRequest", "the body of the request was in an unknown format")
            )
        meta = body.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name")
        if not name:
            raise ApiFailure(
                status(
                    422,
                    "Invalid",
                    f"{kind} is invalid: metadata.name: Required value: name or generateName is required",
                )
            )
        if meta.get("namespace", ns) != ns:
            raise ApiFailure(
                status(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does not match the namespace sent on the request",
                )
            )
        meta["namespace"] = ns
        with c.lock:
            if c.get(group, plural, ns, name) is not None:
                raise ApiFailure(
                    status(
                        409,
                        "AlreadyExists",
                        f'{qualified(group, plural)} "{name}" already exists',
                        {"name": name, "group": group, "kind": plural}
                        if group
                        else {"name": name, "kind": plural},
                    )
                )
            for k in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp"):
                meta.pop(k, None)
            meta["generation"] = 1
            if plural in CHAOS_PLURALS:
                meta["finalizers"] = ["chaos-mesh/records"]
                body.pop("status", None)
            obj = c.put(group, plural, body)
            out = copy.deepcopy(obj)
        if plural in ("deployments", "statefulsets"):
            c.later(c.reconcile_delay, c.reconcile)
        if plural in CHAOS_PLURALS and c.controllers:
            c.later(c.chaos_delay, lambda: c.chaos_injected(plural, name))
        self._send(201, out)

    def _check_patch_type(self, group: str) -> None:
        ctype = (self.headers.get("Content-Type") or "").split(";")[0]
        allowed = {"application/merge-patch+json"}
        if group not in CRD_GROUPS:
            allowed.add("application/strategic-merge-patch+json")
        if ctype not in allowed:
            # CRDs refuse strategic merge; the stand-in also does not implement JSON patch
            raise ApiFailure(
                status(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types include: {', '.join(sorted(allowed))}",
                )
            )

    def _patch(
        self, group: str, plural: str, ns: str, name: str, body: Any, status_only: bool
    ) -> None:
        c = self.server.cluster
        self._check_patch_type(group)
        with c.lock:
            obj = c.get(group, plural, ns, name)
            if obj is None:
                raise not_found(group, plural, name)
            want_rv = (
                (body.get("metadata") or {}).get("resourceVersion")
                if isinstance(body, dict)
                else None
            )
            if want_rv and want_rv != obj["metadata"]["resourceVersion"]:
                raise conflict(
                    group,
                    plural,
                    name,
                    "the object has been modified; please apply your changes to the latest version and try again",
                )
            if status_only:
                new = copy.deepcopy(obj)
                new["status"] = merge_patch(obj.get("status", {}), body.get("status", {}))
            else:
                new = merge_patch(obj, body)
                new["status"] = obj.get("status", {})  # the status subresource owns status
                for k in ("uid", "creationTimestamp", "name", "namespace"):
                    new["metadata"][k] = obj["metadata"][k]
                if new.get("spec") != obj.get("spec"):
                    new["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
            obj = c.put(group, plural, new)
            out = copy.deepcopy(obj)
        if plural in ("deployments", "statefulsets"):
            c.later(c.reconcile_delay, c.reconcile)
        if plural == "rollouts" and c.controllers:
            self.server.rollout_controller(name)
        self._send(200, out)

    def _scale(self, method: str, group: str, plural: str, ns: str, name: str, body: Any) -> None:
        c = self.server.cluster
        with c.lock:
            obj = c.get(group, plural, ns, name)
            if obj is None:
                raise not_found(group, plural, name)
            if method == "PATCH":
                self._check_patch_type(group)
                replicas = (body.get("spec") or {}).get("replicas")
                if not isinstance(replicas, int) or replicas < 0:
                    raise ApiFailure(
                        status(
                            422,
                            "Invalid",
                            f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0',
                        )
                    )
                if replicas != obj["spec"].get("replicas"):
                    obj = copy.deepcopy(obj)
                    obj["spec"]["replicas"] = replicas
                    obj["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
                    obj = c.put(group, plural, obj)
            sel = ",".join(
                f"{k}={v}" for k, v in obj["spec"]["selector"].get("matchLabels", {}).items()
            )
            scale = {
                "kind": "Scale",
                "apiVersion": "autoscaling/v1",
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "uid": obj["metadata"]["uid"],
                    "resourceVersion": obj["metadata"]["resourceVersion"],
                    "creationTimestamp": obj["metadata"]["creationTimestamp"],
                },
                "spec": {"replicas": obj["spec"].get("replicas", 1)},
                "status": {"replicas": obj.get("status", {}).get("replicas", 0), "selector": sel},
            }
        if method == "PATCH":
            c.later(c.reconcile_delay, c.reconcile)
        self._send(200, scale)

    def _delete(
        self, group: str, plural: str, ns: str, name: str, q: dict[str, str], opts: dict[str, Any]
    ) -> None:
        c = self.server.cluster
        with c.lock:
            obj = c.get(group, plural, ns, name)
            if obj is None:
                raise not_found(group, plural, name)
            pre = opts.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != obj["metadata"]["uid"]:
                raise conflict(
                    group,
                    plural,
                    name,
                    f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {obj['metadata']['uid']}",
                )
            if (
                pre.get("resourceVersion")
                and pre["resourceVersion"] != obj["metadata"]["resourceVersion"]
            ):
                raise conflict(
                    group,
                    plural,
                    name,
                    "the object has been modified; please apply your changes to the latest version and try again",
                )
            if obj["metadata"].get("finalizers"):
                if not obj["metadata"].get("deletionTimestamp"):
                    obj = copy.deepcopy(obj)
                    obj["metadata"]["deletionTimestamp"] = now()
                    obj = c.put(group, plural, obj)
                    if plural in CHAOS_PLURALS and c.controllers:
                        c.later(c.chaos_delay, lambda: c.chaos_recovered(plural, name))
                return self._send(200, copy.deepcopy(obj))
            removed = c.remove(group, plural, ns, name)
            if plural in ("deployments", "statefulsets"):
                uid = obj["metadata"]["uid"]
                for pod in c.items("", "pods", ns):
                    if any(o["uid"] == uid for o in pod["metadata"].get("ownerReferences", [])):
                        c.remove("", "pods", ns, pod["metadata"]["name"])
            if plural == "pods":
                c.later(c.reconcile_delay, c.reconcile)  # the owner replaces it
        self._send(200, copy.deepcopy(removed or obj))


class StandIn(ThreadingHTTPServer):
    """The HTTP server; ``cluster`` holds the state tests seed and inspect."""

    daemon_threads = True

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.cluster = cluster
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> StandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def rollout_controller(self, name: str) -> None:
        """Argo Rollouts: a new template starts a canary; abort marks it Degraded."""
        c = self.cluster
        with c.lock:
            ro = c.get("argoproj.io", "rollouts", c.namespace, name)
            if ro is None:
                return
            st = dict(ro.get("status", {}))
            phash = template_hash(ro["spec"]["template"])
            if st.get("abort"):
                st.update(
                    phase="Degraded", message="RolloutAborted: Rollout aborted update to revision 2"
                )
                if phash == st.get("stableRS"):
                    st.update(phase="Healthy", abort=False, message="", currentPodHash=phash)
            elif st.get("promoteFull"):
                st.update(phase="Healthy", stableRS=phash, currentPodHash=phash, promoteFull=False)
            elif phash != st.get("currentPodHash"):
                st.update(
                    phase="Progressing" if phash != st.get("stableRS") else "Healthy",
                    currentPodHash=phash,
                    currentStepIndex=0,
                    canary={
                        "currentStepAnalysisRunStatus": {
                            "name": f"{name}-{phash}-1",
                            "status": "Running",
                        }
                    },
                )
            st["observedGeneration"] = str(ro["metadata"].get("generation", 1))
            if st != ro.get("status"):
                ro = copy.deepcopy(ro)
                ro["status"] = st
                c.put("argoproj.io", "rollouts", ro)

    def set_rollout_status(self, name: str, **fields: Any) -> None:
        """Move a Rollout along as its controller would (tests drive steps and analysis)."""
        c = self.cluster
        with c.lock:
            ro = copy.deepcopy(c.get("argoproj.io", "rollouts", c.namespace, name))
            assert ro is not None
            ro["status"] = {**ro.get("status", {}), **fields}
            c.put("argoproj.io", "rollouts", ro)


def kubeconfig(url: str, namespace: str, context: str = "standin") -> dict[str, Any]:
    """A kubeconfig pointing at the stand-in with a bearer token."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "standin", "cluster": {"server": url}}],
        "users": [{"name": "gameday", "user": {"token": "standin-token"}}],
        "contexts": [
            {
                "name": context,
                "context": {"cluster": "standin", "user": "gameday", "namespace": namespace},
            }
        ],
        "current-context": context,
    }


def wait_for(pred: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return False


def selected(items: Iterable[dict[str, Any]], sel: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in items if expressions_match(sel, i["metadata"].get("labels", {}))]
