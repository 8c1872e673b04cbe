"""Network faults: network-cut through the Docker SDK, partition and latency in netns.

A cut disconnects a service's containers from every network; its plan saves each endpoint
(network id, aliases, addresses, links), so revert reconnects them as they were, even from
a new process (a network re-created meanwhile under the same name is joined by name). A
partition installs one DROP chain (named in the plan) on both sides, latency a netem qdisc
(see ``netns``). A stopped container's namespace, and its rules, are gone: reverting it is
a no-op.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Mapping
from typing import Any

from ...scenarios.model import LatencyFault, NetworkCutFault, PartitionFault
from ..base import FaultAction, FaultPlan, TargetError, UnsupportedFault, acting
from .driver import DRIVER, DockerDriver
from .netns import (
    CHAIN_PREFIX,
    iptables_install,
    iptables_remove,
    netem_add,
    netem_available,
    netem_del,
    netns_tool,
)
from .sdk import api_message, each, names, not_found, refs_of

# networks whose endpoints take no aliases or fixed addresses
PREDEFINED_NETWORKS = ("bridge", "host", "none")


class NetworkCutAction(FaultAction[DockerDriver]):
    """Disconnect the containers from all their networks; revert reconnects them."""

    def plan(self, driver: DockerDriver, fault: NetworkCutFault) -> FaultPlan:
        """The containers, and every endpoint they have now (to reconnect them alike)."""
        refs = driver.resolve(fault.service)
        saved = {r["id"]: _endpoints(driver, r["id"]) for r in refs}
        undo = {"kind": "reconnect", "containers": refs, "networks": saved}
        detail = {"service": fault.service, "mode": fault.mode}
        return FaultPlan(
            fault.label(), fault.action, DRIVER, driver.spec(), undo, names(refs), detail
        )

    def apply(self, driver: DockerDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Disconnect, and confirm no network is left."""
        return each(refs_of(plan.undo), lambda cid: _disconnect(driver, cid))

    def revert(self, driver: DockerDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Reconnect every saved endpoint the container is not on (again)."""
        saved = dict(plan.undo.get("networks", {}))
        return each(refs_of(plan.undo), lambda cid: _reconnect(driver, cid, saved.get(cid, {})))


class PartitionAction(FaultAction[DockerDriver]):
    """Drop every packet between the two sides' containers, in each one's namespace."""

    def plan(self, driver: DockerDriver, fault: PartitionFault) -> FaultPlan:
        """Both sides' containers and a fresh chain name; revert removes the chain."""
        label = fault.label()
        a = [r for s in fault.between[0] for r in driver.resolve(s)]
        b = [r for s in fault.between[1] for r in driver.resolve(s)]
        ids_a, ids_b = {r["id"] for r in a}, {r["id"] for r in b}
        if ids_a & ids_b:
            raise TargetError(f"{label}: a container cannot be on both sides of a partition")
        tool = netns_tool("iptables", driver.docker_host)
        undo = {
            "kind": "iptables",
            "chain": CHAIN_PREFIX + secrets.token_hex(6).upper(),
            "iptables": tool,
            "sides": [a, b],
            "containers": a + b,
        }
        between: dict[str, Any] = {"between": fault.between}
        return FaultPlan(label, fault.action, DRIVER, driver.spec(), undo, names(a + b), between)

    def apply(self, driver: DockerDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Install the chain on every running container, dropping the other side's addresses."""
        undo = plan.undo
        tool, chain = str(undo["iptables"]), str(undo["chain"])
        side_a, side_b = (list(s) for s in undo["sides"])
        ips = {r["id"]: _ips(driver, r["id"]) for r in side_a + side_b}
        out: dict[str, Any] = {}
        for mine, other in ((side_a, side_b), (side_b, side_a)):
            peers = sorted({ip for r in other for ip in ips[r["id"]]})
            for ref in mine:
                pid = driver.pid(ref["id"])
                if pid is None:
                    out[ref["name"]] = "not running"
                    continue
                with acting():
                    iptables_install(pid, tool, chain, peers)
                out[ref["name"]] = {"dropped": peers}
        return {"chain": chain, "containers": out}

    def revert(self, driver: DockerDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Unhook and delete the chain wherever it is."""
        tool, chain = str(plan.undo["iptables"]), str(plan.undo["chain"])

        def remove(cid: str) -> str:
            pid = driver.pid(cid)
            return "not running" if pid is None else iptables_remove(pid, tool, chain)

        return each(refs_of(plan.undo), remove)


class LatencyAction(FaultAction[DockerDriver]):
    """Delay all of a service's traffic with netem on each of its containers' interfaces."""

    def plan(self, driver: DockerDriver, fault: LatencyFault) -> FaultPlan:
        """The containers and the tc binary; UnsupportedFault for a link or without netem."""
        if fault.link:
            raise UnsupportedFault(
                "the docker target delays all of a service's traffic; give 'service', not 'link'"
            )
        if not netem_available():
            raise UnsupportedFault(
                "latency needs tc netem (kernel module sch_netem), which this host's kernel "
                "lacks: not supported on this host"
            )
        refs = driver.resolve(str(fault.service))
        tool = netns_tool("tc", driver.docker_host)
        undo = {"kind": "netem", "tc": tool, "containers": refs}
        detail = {"delay_ms": fault.delay * 1000.0, "jitter_ms": fault.jitter * 1000.0}
        return FaultPlan(
            fault.label(), fault.action, DRIVER, driver.spec(), undo, names(refs), detail
        )

    def apply(self, driver: DockerDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Replace the root qdisc of every interface but lo with netem."""
        tc = str(plan.undo["tc"])
        delay = float(plan.detail["delay_ms"])
        jitter = float(plan.detail.get("jitter_ms") or 0.0)
        out: dict[str, Any] = {}
        for ref in plan.undo["containers"]:
            pid = driver.pid(ref["id"])
            if pid is None:
                out[ref["name"]] = "not running"
                continue
            with acting():
                out[ref["name"]] = netem_add(pid, tc, delay, jitter, ref["name"])
        return out

    def revert(self, driver: DockerDriver, plan: FaultPlan) -> Mapping[str, Any]:
        """Delete the root qdiscs again."""
        tc = str(plan.undo["tc"])

        def remove(cid: str) -> str:
            pid = driver.pid(cid)
            return "not running" if pid is None else netem_del(pid, tc)

        return each(refs_of(plan.undo), remove)


def _ips(driver: DockerDriver, cid: str) -> list[str]:
    nets = driver.networks(cid)
    return sorted({str(ep["IPAddress"]) for ep in nets.values() if ep.get("IPAddress")})


def _endpoints(driver: DockerDriver, cid: str) -> dict[str, dict[str, Any]]:
    """Each network of a container with what reconnecting needs (aliases, addresses)."""
    info = driver.inspect(cid)
    if info is None:
        raise TargetError(f"container {cid[:12]} disappeared")
    out = {}
    for net, ep in (info["NetworkSettings"].get("Networks") or {}).items():
        ipam = ep.get("IPAMConfig") or {}
        out[net] = {
            "id": ep.get("NetworkID"),
            "aliases": [a for a in ep.get("Aliases") or [] if a != cid[:12]],
            "ipv4": ipam.get("IPv4Address") or ep.get("IPAddress") or None,
            "ipv6": ipam.get("IPv6Address") or ep.get("GlobalIPv6Address") or None,
            "links": ep.get("Links") or [],
        }
    return out


def _disconnect(driver: DockerDriver, cid: str) -> list[str]:
    nets = list(driver.networks(cid))
    for net in nets:
        with contextlib.suppress(not_found()), acting():
            driver.client.api.disconnect_container_from_network(cid, net, force=True)
    left = list(driver.networks(cid))
    if left:
        raise TargetError(f"still connected to {', '.join(left)}")
    return nets


def _reconnect(
    driver: DockerDriver, cid: str, saved: Mapping[str, Mapping[str, Any]]
) -> dict[str, str]:
    info = driver.inspect(cid)
    if info is None:
        return {"container": "gone"}
    current = info["NetworkSettings"].get("Networks") or {}
    done: dict[str, str] = {}
    for net, ep in saved.items():
        if net in current:
            done[net] = "connected"
            continue
        ref = str(ep.get("id") or net)
        predefined = net in PREDEFINED_NETWORKS
        kwargs: dict[str, Any] = {}
        if not predefined:
            kwargs = {
                "aliases": list(ep.get("aliases") or []) or None,
                "ipv4_address": ep.get("ipv4") or None,
                "ipv6_address": ep.get("ipv6") or None,
                "links": list(ep.get("links") or []) or None,
            }
        try:
            _connect(driver, ref, net, cid, kwargs)
            done[net] = "reconnected"
        except not_found():
            done[net] = "network gone"
        except Exception as exc:
            msg = api_message(exc)
            if "already exists" in msg or "already attached" in msg:
                done[net] = "connected"
            elif kwargs.get("ipv4_address") or kwargs.get("ipv6_address"):
                # the address can only be pinned on user-configured subnets, or it was
                # taken meanwhile: reconnect anyway, on a new address
                kwargs.update(ipv4_address=None, ipv6_address=None)
                _connect(driver, ref, net, cid, kwargs)
                done[net] = f"reconnected on a new address ({msg})"
            else:
                raise
    return done


def _connect(
    driver: DockerDriver, ref: str, name: str, cid: str, kwargs: Mapping[str, Any]
) -> None:
    try:
        driver.client.api.connect_container_to_network(cid, ref, **kwargs)
    except not_found():
        if ref == name:
            raise
        # the network was re-created with the same name: reconnect to that one
        driver.client.api.connect_container_to_network(cid, name, **kwargs)
