"""Thin, recorded access to the Kubernetes API through the official client.

Every call names the RBAC attributes it needs (API group, resource, verb), so the Role in
``k8s/`` can be checked against exactly what the driver does (``PERMISSIONS``), and errors
arrive as ``TargetError`` carrying the API server's own ``Status`` message.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from kubernetes import client
from kubernetes import config as _config
from kubernetes import watch as _watch
from kubernetes.client.exceptions import ApiException

from ..base import TargetError

T = TypeVar("T")
Perm = tuple[str, str, str]  # (apiGroup, resource[/subresource], verb)

CustomResource = tuple[str, str, str]  # (group, version, plural), as ROLLOUTS

WORKLOAD_KINDS = {"Deployment": "deployments", "StatefulSet": "statefulsets"}
ROLLOUTS: CustomResource = ("argoproj.io", "v1alpha1", "rollouts")
CHAOS_GROUP, CHAOS_VERSION = "chaos-mesh.org", "v1alpha1"
CHAOS_KINDS = {"NetworkChaos": "networkchaos", "PodChaos": "podchaos", "StressChaos": "stresschaos"}

# Every (apiGroup, resource, verb) the driver may call; k8s/rbac.yaml grants exactly these.
PERMISSIONS: frozenset[Perm] = frozenset(
    {
        ("", "namespaces", "get"),  # the staging label on the drill's own namespace
        ("", "pods", "list"),
        ("", "pods", "watch"),
        ("", "pods", "delete"),
        ("", "events", "create"),  # an audit trail of injections in `kubectl get events`
        ("apps", "deployments", "list"),
        ("apps", "deployments", "get"),
        ("apps", "deployments", "create"),  # the canary Deployment
        ("apps", "deployments", "patch"),  # restore annotations; canary share
        ("apps", "deployments", "delete"),
        ("apps", "deployments/scale", "get"),
        ("apps", "deployments/scale", "patch"),
        ("apps", "statefulsets", "list"),
        ("apps", "statefulsets", "get"),
        ("apps", "statefulsets", "patch"),
        ("apps", "statefulsets/scale", "get"),
        ("apps", "statefulsets/scale", "patch"),
        ("networking.k8s.io", "networkpolicies", "list"),
        ("networking.k8s.io", "networkpolicies", "create"),
        ("networking.k8s.io", "networkpolicies", "delete"),
        ("argoproj.io", "rollouts", "list"),
        ("argoproj.io", "rollouts", "get"),
        ("argoproj.io", "rollouts", "watch"),
        ("argoproj.io", "rollouts", "patch"),
        ("argoproj.io", "rollouts/status", "patch"),  # abort / promote-full, as the plugin does
        *(
            (CHAOS_GROUP, plural, verb)
            for plural in ("networkchaos", "podchaos")
            for verb in ("list", "get", "create", "delete")
        ),
        # no fault action creates StressChaos yet; recover still sweeps any gameday left
        (CHAOS_GROUP, "stresschaos", "list"),
        (CHAOS_GROUP, "stresschaos", "delete"),
    }
)

# What this process actually called: tests compare it with PERMISSIONS and the Role.
CALLS_SEEN: set[Perm] = set()

MERGE_PATCH = "application/merge-patch+json"
# the config and watch modules are untyped: used through Any
config: Any = _config
watch: Any = _watch


def load_api_client(kubeconfig: str | None, context: str | None) -> Any:
    """An ApiClient from a kubeconfig (explicit, $KUBECONFIG, ~/.kube/config) or in-cluster."""
    path = kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    paths = [p for p in path.split(os.pathsep) if p]
    try:
        if any(os.path.exists(p) for p in paths):
            return config.new_client_from_config(config_file=path, context=context)
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            cfg = client.Configuration()
            config.load_incluster_config(client_configuration=cfg)
            return client.ApiClient(cfg)
    except config.ConfigException as exc:
        raise TargetError(f"cannot load Kubernetes configuration: {exc}") from exc
    raise TargetError(
        "no Kubernetes configuration: set KUBECONFIG, create ~/.kube/config, or run in a pod"
    )


def status_message(exc: ApiException) -> str:
    """The API server's ``Status.message`` (or the raw reason when the body is not a Status)."""
    try:
        body = json.loads(exc.body or "{}")
    except (ValueError, TypeError):
        body = {}
    if isinstance(body, dict) and body.get("kind") == "Status" and body.get("message"):
        return str(body["message"])
    return f"{exc.status} {exc.reason}"


class Api:
    """The typed client APIs, each call recorded with its RBAC attributes."""

    def __init__(self, api_client: Any, timeout_s: float = 10.0) -> None:
        self.client = api_client
        self.timeout_s = timeout_s
        self.core: Any = client.CoreV1Api(api_client)
        self.apps: Any = client.AppsV1Api(api_client)
        self.net: Any = client.NetworkingV1Api(api_client)
        self.custom: Any = client.CustomObjectsApi(api_client)
        self.apis: Any = client.ApisApi(api_client)
        self.seen: set[Perm] = set()

    def call(self, perm: Perm, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call ``fn``; ApiException becomes ApiError (a TargetError with the Status message)."""
        if perm not in PERMISSIONS:  # a programming error: the Role would refuse it anyway
            raise AssertionError(f"{perm} is not declared in PERMISSIONS")
        self.seen.add(perm)
        CALLS_SEEN.add(perm)
        kwargs.setdefault("_request_timeout", self.timeout_s)
        try:
            return fn(*args, **kwargs)
        except ApiException as exc:
            raise ApiError(exc.status or 0, status_message(exc), perm) from None

    def optional(self, perm: Perm, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """Like ``call``, but a 404 Not Found is None (idempotent reads and deletes)."""
        try:
            return self.call(perm, fn, *args, **kwargs)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def discover(self) -> dict[str, set[str]]:
        """API groups served (``/apis``) → their versions; discovery needs no RBAC grant."""
        try:
            groups = self.apis.get_api_versions(_request_timeout=self.timeout_s)
        except ApiException as exc:
            raise ApiError(exc.status or 0, status_message(exc), ("", "/apis", "get")) from None
        return {g.name: {v.version for v in g.versions or []} for g in groups.groups or []}

    def resources(self, group: str, version: str) -> set[str]:
        """Resource names served by ``/apis/<group>/<version>`` (empty when not served)."""
        try:
            found = self.custom.get_api_resources(group, version, _request_timeout=self.timeout_s)
        except ApiException as exc:
            if exc.status == 404:
                return set()
            raise ApiError(exc.status or 0, status_message(exc), (group, version, "get")) from None
        return {r.name for r in found.resources or []}

    def watch_until(
        self,
        perm: Perm,
        list_fn: Callable[..., Any],
        done: Callable[[list[Any]], bool],
        timeout_s: float,
        **kwargs: Any,
    ) -> tuple[bool, list[Any]]:
        """List, then watch from the list's resourceVersion until ``done(items)``.

        ``items`` are raw dicts. A watch that expires (410 Gone: resourceVersion too old)
        starts over with a fresh list, as the API conventions ask.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            listed = self.call((*perm[:2], "list"), list_fn, _preload_content=False, **kwargs)
            body = json.loads(listed.data)
            items = {_key(i): i for i in body.get("items", [])}
            if done(list(items.values())):
                return True, list(items.values())
            rv = body.get("metadata", {}).get("resourceVersion")
            try:
                for event in self._events(perm, list_fn, rv, deadline, **kwargs):
                    obj = event["raw_object"]
                    if event["type"] == "DELETED":
                        items.pop(_key(obj), None)
                    elif event["type"] in ("ADDED", "MODIFIED"):
                        items[_key(obj)] = obj
                    if done(list(items.values())):
                        return True, list(items.values())
            except ApiError as exc:
                if exc.status != 410:
                    raise
                continue  # expired: relist
            if time.monotonic() >= deadline:
                return False, list(items.values())

    def _events(
        self, perm: Perm, list_fn: Callable[..., Any], rv: str | None, deadline: float, **kw: Any
    ) -> Iterator[dict[str, Any]]:
        remaining = max(1, round(deadline - time.monotonic()))
        w = watch.Watch()
        self.seen.add((*perm[:2], "watch"))
        CALLS_SEEN.add((*perm[:2], "watch"))
        try:
            # timeout_seconds makes the server end the stream; the client then never
            # retries on its own, so a 410 reaches us as ApiException
            yield from w.stream(
                list_fn,
                resource_version=rv,
                timeout_seconds=remaining,
                allow_watch_bookmarks=True,
                _request_timeout=remaining + self.timeout_s,
                **kw,
            )
        except ApiException as exc:
            raise ApiError(exc.status or 0, str(exc.reason), perm) from None
        finally:
            w.stop()


@contextlib.contextmanager
def already_exists_ok() -> Iterator[None]:
    """Let a create's 409 AlreadyExists pass: a retried apply finds its object made."""
    try:
        yield
    except ApiError as exc:
        if exc.status != 409:
            raise


def _key(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata", {})
    return str(meta.get("uid") or meta.get("name"))


class ApiError(TargetError):
    """An API call failed; ``status`` is the HTTP code (404, 409, 403, ...)."""

    def __init__(self, status: int, message: str, perm: Perm) -> None:
        super().__init__(f"{message} ({perm[2]} {perm[1]}{' in ' + perm[0] if perm[0] else ''})")
        self.status = status
        self.perm = perm
